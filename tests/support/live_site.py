"""The real site for tests that need real processes: a migrated, seeded database (SQLite in a
work directory, or MongoDB: the suite's replica set or one of its own) served by the real gunicorn
with the production config, an admin login over HTTP, editors as HTTP clients with real sessions
and CSRF tokens, and a way to hold every write for a moment."""

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
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.admin_forms import flat, form_values
from tests.support.manage import ROOT, clean_env, run_manage

sys.path.insert(0, str(ROOT / "scripts"))
from local_mongo import ReplicaSet

HOST = "127.0.0.1"
ADMIN = ("editor", "site-test-pw-47")
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
CHANGE = "/admin/characters/character/{}/change/"
LOGIN = "/admin/login/"
FIRST_100 = ("--max-offset", "100")  # the bundled recordings' first 100 characters


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


def site_env(workdir: Path, mongodb_uri: str | None = None, **settings: str | None) -> dict:
    """The environment of every process of one site: a SQLite file in `workdir`, or a new
    database on the replica set at `mongodb_uri`; every page rendered from the database (no
    page cache) and the admin without a second factor, unless `settings` say otherwise. A
    setting of None leaves that variable unset: the site's default."""
    env = {
        "DJANGO_SECRET_KEY": "site-test-not-secret",
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "MARVELSITE_PAGE_CACHE_SECONDS": "0",
        "MARVELSITE_OTP_REQUIRED": "off",  # editors log in with a password alone
        "DJANGO_SUPERUSER_USERNAME": ADMIN[0],
        "DJANGO_SUPERUSER_PASSWORD": ADMIN[1],
    }
    if mongodb_uri:
        env |= {"MONGODB_URI": mongodb_uri, "MONGODB_NAME": f"site_{uuid.uuid4().hex[:8]}"}
    env |= settings
    return {name: value for name, value in env.items() if value is not None}


def manage(workdir: Path, env: dict, *args: str) -> str:
    result = run_manage(*args, data_dir=workdir, **env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def prepare(workdir: Path, env: dict, seed=FIRST_100, migrate=True, static=True) -> None:
    """Migrate and make the admin; import `seed` (seed_marvel's arguments, None for none);
    collect production's hashed static files."""
    commands = []
    if migrate:
        commands += [["migrate", "--noinput", "-v0"], ["ensure_admin"]]
    if seed is not None:
        commands.insert(1, ["seed_marvel", "--source", "file", *seed])
    if static:
        commands.append(["collectstatic", "--noinput", "-v0"])
    for command in commands:
        manage(workdir, env, *command)


class Gunicorn:
    """gunicorn serving the site (production config) on one port, in a process group of its
    own, which can be killed and started again."""

    def __init__(self, workdir: Path, env: dict, ready: str = "/readyz"):
        self.workdir, self.env, self.ready = workdir, env, ready
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
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.base + self.ready, timeout=5).status_code == 200:
                    return
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop(signal.SIGKILL)
                raise AssertionError("gunicorn did not start:\n" + self.log_tail())
            time.sleep(0.2)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)
        self.process = None

    def log_tail(self) -> str:
        return self.log_path.read_text()[-3000:]


@contextlib.contextmanager
def gunicorn(workdir: Path, env: dict, ready: str = "/readyz"):
    """The site's base URL while gunicorn runs."""
    server = Gunicorn(workdir, env, ready)
    try:
        server.start()
        yield server.base
    finally:
        server.stop()


@dataclass
class Site:
    base: str  # the site's URL
    env: dict  # the environment of its processes, for `manage`
    log_path: Path  # gunicorn's log
    replica_set: ReplicaSet | None  # the replica set of its own, if it has one


@contextlib.contextmanager
def served_site(
    workdir: Path,
    *,
    members: int = 0,
    mongodb_uri: str | None = None,
    seed=FIRST_100,
    migrate: bool = True,
    static: bool = True,
    ready: str = "/readyz",
    **settings: str | None,
):
    """A prepared site under gunicorn: on SQLite, on the replica set at `mongodb_uri`, or on a
    new replica set of `members` members; `settings` as in `site_env`."""
    with contextlib.ExitStack() as stack:
        replica_set = stack.enter_context(ReplicaSet(members=members)) if members else None
        uri = replica_set.uri if replica_set else mongodb_uri
        env = site_env(workdir, uri, **settings)
        prepare(workdir, env, seed=seed, migrate=migrate, static=static)
        base = stack.enter_context(gunicorn(workdir, env, ready))
        yield Site(base, env, workdir / "gunicorn.log", replica_set)


def admin_login(base: str, session: requests.Session, password: str = ADMIN[1], query: str = ""):
    """The admin login form filled in and posted as a browser does: gunicorn's answer."""
    url = f"{base}{LOGIN}{query}"
    form = session.get(url, timeout=30)
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert found, f"{form.status_code}: {form.text[:2000]}"
    return session.post(
        url,
        data={"csrfmiddlewaretoken": found.group(1), "username": ADMIN[0], "password": password},
        headers={"Referer": base + LOGIN},
        timeout=30,
        allow_redirects=False,
    )


def admin_session(base: str) -> requests.Session:
    """A session logged in to the admin as ADMIN."""
    session = requests.Session()
    response = admin_login(base, session)
    assert response.status_code == 302, response.text[:500]
    return session


class Editor:
    """One editor in a browser: logged in, opens change forms and saves them."""

    def __init__(self, base: str):
        self.base = base
        self.session = admin_session(base)

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
