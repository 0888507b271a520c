"""A real 3-member replica set on loopback (scripts/local_mongo.py), seeded, and served by the
real gunicorn with the production settings, as in the container (2 workers x 4 threads)."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.support.manage import ROOT, clean_env, run_manage

sys.path.insert(0, str(ROOT / "scripts"))
from local_mongo import ReplicaSet

HOST = "127.0.0.1"
ADMIN = ("boss", "outage-test-pw-31")
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def get(url, session=None, timeout=30):
    return (session or requests).get(url, timeout=timeout, allow_redirects=False)


def wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while True:
        try:
            if condition():
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"not true within {seconds}s"
        time.sleep(0.25)


@contextlib.contextmanager
def served_replica_set(workdir: Path, **settings: str):
    """(replica set, base URL, gunicorn's log): 100 characters, every page rendered from the
    database (no page cache) unless `settings` say otherwise."""
    with ReplicaSet(members=3) as replica_set:
        env = {
            "MONGODB_URI": replica_set.uri,
            "MONGODB_NAME": "outage",
            "DJANGO_SECRET_KEY": "outage-test-not-secret",
            "DJANGO_ALLOWED_HOSTS": HOST,
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_SECURE_COOKIES": "false",
            "MARVELSITE_PAGE_CACHE_SECONDS": "0",
            "MARVELSITE_OTP_REQUIRED": "off",  # the editor logs in with a password alone
            **settings,
        }
        for command in (
            ["migrate", "--noinput", "-v0"],
            ["seed_marvel", "--source", "file", "--max-offset", "100"],
            ["ensure_admin"],
            ["collectstatic", "--noinput", "-v0"],  # production's hashed static files
        ):
            result = run_manage(
                *command,
                data_dir=workdir,
                **env,
                DJANGO_SUPERUSER_USERNAME=ADMIN[0],
                DJANGO_SUPERUSER_PASSWORD=ADMIN[1],
            )
            assert result.returncode == 0, result.stderr
        port = free_port()
        log_path = workdir / "gunicorn.log"
        with open(log_path, "w") as log:
            server = subprocess.Popen(
                [GUNICORN, "-c", "python:marvelsite.gunicorn_conf", "marvelsite.wsgi"],
                cwd=ROOT,
                env=clean_env(workdir, **env, GUNICORN_BIND=f"{HOST}:{port}"),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        base = f"http://{HOST}:{port}"
        try:
            wait_for(lambda: get(base + "/readyz").status_code == 200, 30)
            yield replica_set, base, log_path
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def admin_session(base):
    session = requests.Session()
    form = session.get(base + "/admin/login/", timeout=30)
    assert form.status_code == 200, form.text[:2000]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    response = session.post(
        base + "/admin/login/",
        data={"csrfmiddlewaretoken": token, "username": ADMIN[0], "password": ADMIN[1]},
        headers={"Referer": base + "/admin/login/"},
        timeout=30,
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:500]
    return session
