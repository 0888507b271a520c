"""Gunicorn settings, read from the environment (see README.md)."""

import os


def _env_bool(name: str) -> bool:
    return os.environ.get(name, "").lower() in {"1", "true", "yes", "on"}


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")  # noqa: S104 - a container listens on all
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
