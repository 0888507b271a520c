"""Gunicorn settings, read from the environment (see README.md)."""

import os
import shutil


def _env_bool(name: str) -> bool:
    return os.environ.get(name, "").lower() in {"1", "true", "yes", "on"}


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")  # noqa: S104 - a container listens on all
# Prometheus metrics on a second port, same host: Django answers /metrics there and only there
# (marvelsite/metrics.py), so the site's port and the public Service never serve them.
_metrics_port = os.environ.get("MARVELSITE_METRICS_PORT")
if _metrics_port:
    bind = [bind, f"{bind.rsplit(':', 1)[0]}:{_metrics_port}"]
    # prometheus_client's multiprocess mode: each worker writes its samples here, a scrape
    # reads them all. Set before the workers import it; emptied when gunicorn starts.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", "/tmp/prometheus-multiproc")  # noqa: S108
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# Time given to in-flight requests after SIGTERM (keep below the pod's grace period).
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
reload = _env_bool("GUNICORN_RELOAD")
# Heartbeat files in /tmp: the root filesystem may be read-only.
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", "/tmp")  # noqa: S108
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
# Gunicorn >= 25 opens a control socket under $HOME, which is read-only in the container and
# unused here (Kubernetes manages the processes).
control_socket_disable = True


def on_starting(server):
    """Start with no samples from an earlier run of this container."""
    if directory := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)


def child_exit(server, worker):
    """A dead worker's live gauges stop counting (its counters stay in the totals)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
