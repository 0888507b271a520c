"""Gunicorn settings, read from the environment (see docs/configuration.md) with django-environ, as
marvelsite/settings.py reads Django's."""

import os
import shutil

import environ

env = environ.Env()

bind = env.str("GUNICORN_BIND", default="0.0.0.0:8000")  # a container listens on all addresses
# Prometheus metrics on a second port, same host: Django answers /metrics there and only there
# (marvelsite/metrics.py), so the site's port and the public Service never serve them.
_metrics_port = env.int("MARVELSITE_METRICS_PORT", default=None)
if _metrics_port:
    bind = [bind, f"{bind.rsplit(':', 1)[0]}:{_metrics_port}"]
    # prometheus_client's multiprocess mode: each worker writes its samples here, a scrape
    # reads them all. Set before the workers import it; emptied when gunicorn starts.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", "/tmp/prometheus-multiproc")  # noqa: S108
workers = env.int("GUNICORN_WORKERS", default=2)
threads = env.int("GUNICORN_THREADS", default=4)
timeout = env.int("GUNICORN_TIMEOUT", default=30)
# Time given to in-flight requests after SIGTERM (keep below the pod's grace period).
graceful_timeout = env.int("GUNICORN_GRACEFUL_TIMEOUT", default=20)
reload = env.bool("GUNICORN_RELOAD", default=False)
# Heartbeat files in /tmp: the root filesystem may be read-only.
worker_tmp_dir = env.str("GUNICORN_WORKER_TMP_DIR", default="/tmp")  # noqa: S108
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = env.str("GUNICORN_FORWARDED_ALLOW_IPS", default="127.0.0.1")
# Gunicorn >= 25 opens a control socket under $HOME, which is read-only in the container and
# unused here (Kubernetes manages the processes).
control_socket_disable = True


def on_starting(server):
    """Start with no samples from an earlier run of this container."""
    if directory := env.str("PROMETHEUS_MULTIPROC_DIR", default=""):
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)


def post_worker_init(worker):
    """Each worker follows the catalogue version from here on: after the fork (pymongo's
    clients and threads do not survive one), with Django set up by the loaded app."""
    from characters import catalogue_version

    catalogue_version.start()  # does not raise: with the database down, the first read retries


def worker_exit(server, worker):
    from characters import catalogue_version

    catalogue_version.stop()


def child_exit(server, worker):
    """A dead worker's live gauges stop counting (its counters stay in the totals)."""
    if env.str("PROMETHEUS_MULTIPROC_DIR", default=""):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
