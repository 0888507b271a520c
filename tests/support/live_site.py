"""The real site for race tests: a migrated database, gunicorn serving it, editors as HTTP
clients with real sessions and CSRF tokens, and a way to hold every write for a moment."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

from tests.support.admin_forms import flat, form_values
from tests.support.manage import ROOT, clean_env, run_manage

HOST = "127.0.0.1"
ADMIN = ("editor", "race-test-pw-47")
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
CHANGE = "/admin/characters/character/{}/change/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def site_env(workdir: Path, mongodb_uri: str | None) -> dict:
    """The environment of every process of one site: a SQLite file in `workdir`, or a new
    database on the replica set at `mongodb_uri`."""
    env = {
        "DJANGO_SECRET_KEY": "race-test-not-secret",
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "MARVELSITE_PAGE_CACHE_SECONDS": "0",
        "MARVELSITE_OTP_REQUIRED": "off",  # editors log in with a password alone
        "DJANGO_SUPERUSER_USERNAME": ADMIN[0],
        "DJANGO_SUPERUSER_PASSWORD": ADMIN[1],
    }
    if mongodb_uri:
        env |= {"MONGODB_URI": mongodb_uri, "MONGODB_NAME": f"races_{uuid.uuid4().hex[:8]}"}
    return env


def manage(workdir: Path, env: dict, *args: str) -> str:
    result = run_manage(*args, data_dir=workdir, **env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def prepare(workdir: Path, env: dict, records_file: Path) -> None:
    for command in (
        ["migrate", "--noinput", "-v0"],
        ["seed_marvel", "--source", "file", "--path", str(records_file), "-v0"],
        ["ensure_admin"],
        ["collectstatic", "--noinput", "-v0"],
    ):
        manage(workdir, env, *command)


class Gunicorn:
    """gunicorn serving the site (production settings, 2 workers x 4 threads) on one port,
    which can be killed and started again."""

    def __init__(self, workdir: Path, env: dict):
        self.workdir, self.env = workdir, env
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.log_path = workdir / "gunicorn.log"
        self.process = None

    def start(self) -> None:
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [GUNICORN, "-c", "python:marvelsite.gunicorn_conf", "marvelsite.wsgi"],
                cwd=ROOT,
                env=clean_env(self.workdir, **self.env, GUNICORN_BIND=f"{HOST}:{self.port}"),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.base + "/readyz", timeout=5).status_code == 200:
                    return
            assert time.monotonic() < deadline, self.log_path.read_text()[-3000:]
            time.sleep(0.2)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)
        self.process = None


@contextlib.contextmanager
def gunicorn(workdir: Path, env: dict):
    """The site's base URL while gunicorn runs."""
    server = Gunicorn(workdir, env)
    server.start()
    try:
        yield server.base
    finally:
        server.stop()


class Editor:
    """One editor in a browser: logged in, opens change forms and saves them."""

    def __init__(self, base: str):
        self.base = base
        self.session = requests.Session()
        login = self.session.get(base + "/admin/login/", timeout=30)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
        answer = self.session.post(
            base + "/admin/login/",
            data={"csrfmiddlewaretoken": token, "username": ADMIN[0], "password": ADMIN[1]},
            headers={"Referer": base + "/admin/login/"},
            timeout=30,
            allow_redirects=False,
        )
        assert answer.status_code == 302, answer.text[:500]

    def open(self, character_id: int) -> dict:
        response = self.session.get(self.base + CHANGE.format(character_id), timeout=60)
        assert response.status_code == 200, response.text[:1000]
        return form_values(response.text)

    def save(self, character_id: int, opened: dict, **changes) -> requests.Response:
        url = self.base + CHANGE.format(character_id)
        return self.session.post(
            url,
            data=flat(opened, **changes),
            headers={"Referer": url},
            timeout=120,
            allow_redirects=False,
        )


class WriteFreeze:
    """Every write to the database waits while frozen; reads go on. SQLite: a connection that
    holds the write lock (BEGIN IMMEDIATE). MongoDB: fsyncLock on the primary."""

    def __init__(self, workdir: Path, env: dict):
        self.sqlite_path = None if "MONGODB_URI" in env else workdir / "db.sqlite3"
        self.uri = env.get("MONGODB_URI")
        self._sqlite = None
        self._client = None

    def __enter__(self):
        if self.sqlite_path:
            self._sqlite = sqlite3.connect(self.sqlite_path, isolation_level=None, timeout=30)
            self._sqlite.execute("BEGIN IMMEDIATE")
        else:
            import pymongo

            self._client = self._client or pymongo.MongoClient(self.uri)
            self._client.admin.command("fsync", lock=True)
        return self

    def __exit__(self, *exc_info):
        if self._sqlite is not None:
            self._sqlite.execute("ROLLBACK")
            self._sqlite.close()
            self._sqlite = None
        else:
            self._client.admin.command("fsyncUnlock")

    def close(self):
        if self._client is not None:
            self._client.close()


def read_rows(workdir: Path, env: dict, ids: list[int]) -> dict[int, dict]:
    """{id: description, name, local_edits, comic ids} as stored, read by a fresh process."""
    code = (
        "import json; from characters.models import Character as C; "
        f"print(json.dumps({{c.id: {{'description': c.description, 'name': c.name, "
        f"'local_edits': c.local_edits, 'comics': c.comic_ids()}} "
        f"for c in C.objects.filter(id__in={ids!r})}}))"
    )
    out = manage(workdir, env, "shell", "-c", code)
    return {int(pk): row for pk, row in json.loads(out.strip().splitlines()[-1]).items()}
