"""Lockout without denial of service: failures count per (username, address) and per address,
never per username alone, so nobody can lock the admin out from every address; brute force and
a slow spray across usernames from one address stay locked out.

The last test runs a real gunicorn behind a pretend ingress (MARVELSITE_TRUSTED_PROXIES=1,
X-Forwarded-For) over HTTP on loopback, with real sessions and CSRF tokens.
"""

import re
import socket
import subprocess
import sys
import time
import uuid

import pytest
import requests
from axes.models import AccessAttempt
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from tests.support.manage import ROOT, clean_env, run_manage

LOGIN = "/admin/login/"
PASSWORD = "the-right-password-42"
ATTACKER, ADMIN_HOME = "198.51.100.66", "203.0.113.7"


@pytest.fixture
def boss(django_user_model):
    return django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)


def login(username, password, address, **headers):
    data = {"username": username, "password": password, "next": "/admin/"}
    return Client().post(LOGIN, data, REMOTE_ADDR=address, **headers)


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


@pytest.mark.django_db
def test_wrong_passwords_from_one_address_do_not_lock_the_admin_out_elsewhere(boss, settings):
    for n in range(settings.AXES_FAILURE_LIMIT + 1):
        login("boss", f"guess-{n}", ATTACKER)
    assert login("boss", PASSWORD, ATTACKER).status_code == 429  # brute force: still locked
    assert logged_in(login("boss", PASSWORD, ADMIN_HOME))


@pytest.mark.django_db
def test_behind_the_ingress_the_forwarded_address_counts(boss, settings):
    settings.TRUSTED_PROXIES = 1
    ingress = {"address": "10.0.0.2"}
    for n in range(settings.AXES_FAILURE_LIMIT + 1):
        login("boss", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, {ATTACKER}", **ingress)
    refused = login("boss", PASSWORD, HTTP_X_FORWARDED_FOR=ATTACKER, **ingress)
    assert refused.status_code == 429
    assert logged_in(login("boss", PASSWORD, HTTP_X_FORWARDED_FOR=ADMIN_HOME, **ingress))


@pytest.mark.django_db
def test_a_slow_spray_across_usernames_from_one_address_is_locked_out(boss, settings):
    limit, cool_off = settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME
    for n in range(limit):
        assert login(f"user-{n}", "Winter2026!", ATTACKER).status_code in (200, 429)
        # Each attempt moved back: the spray took most of the cool-off, one name at a time.
        back = cool_off * (limit - n) / (limit + 1)
        AccessAttempt.objects.filter(username=f"user-{n}").update(
            attempt_time=timezone.now() - back
        )
    assert login("boss", PASSWORD, ATTACKER).status_code == 429
    assert logged_in(login("boss", PASSWORD, ADMIN_HOME))


@pytest.mark.django_db
def test_the_recovery_commands_lift_a_lockout(boss, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login("boss", "wrong", ATTACKER)
    assert login("boss", PASSWORD, ATTACKER).status_code == 429
    call_command("axes_reset_ip", ATTACKER)
    assert logged_in(login("boss", PASSWORD, ATTACKER))

    for _ in range(settings.AXES_FAILURE_LIMIT):
        login("boss", "wrong", ATTACKER)
    call_command("axes_reset_username", "boss")
    assert logged_in(login("boss", PASSWORD, ATTACKER))


# --- a real gunicorn behind a pretend ingress ----------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def site(tmp_path):
    env = {
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECRET_KEY": "tests-only-not-secret",
        "DJANGO_SECURE_COOKIES": "false",  # plain HTTP on loopback: no TLS terminator here
        "DJANGO_SETTINGS_MODULE": "tests.settings",  # plain HTTP, static files from the apps
    }
    if connection.vendor == "mongodb":
        from django.conf import settings

        env |= {
            "MONGODB_URI": settings.DATABASES["default"]["HOST"],
            "MONGODB_NAME": f"lockout_{uuid.uuid4().hex[:8]}",
        }
    admin = {"DJANGO_SUPERUSER_USERNAME": "boss", "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    for command in (("migrate", "--noinput"), ("ensure_admin",)):
        done = run_manage(*command, data_dir=tmp_path, **env, **admin)
        assert done.returncode == 0, done.stderr
    port = free_port()
    server_env = clean_env(
        tmp_path,
        **env,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
        GUNICORN_WORKER_TMP_DIR=str(tmp_path),
        MARVELSITE_TRUSTED_PROXIES="1",
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:marvelsite.gunicorn_conf",
            "marvelsite.wsgi",
        ],
        cwd=ROOT,
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:  # the server is stopped however the test ends, a failed start included
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or a worker still booting
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"gunicorn did not start:\n{process.communicate()[1]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        if "MONGODB_NAME" in env:
            connection.connection.drop_database(env["MONGODB_NAME"])


def http_login(url: str, password: str, address: str) -> requests.Response:
    """A browser's login from `address`, as the ingress forwards it."""
    session = requests.Session()
    session.headers["X-Forwarded-For"] = address
    form = session.get(f"{url}{LOGIN}?next=/admin/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    data = {"csrfmiddlewaretoken": token, "username": "boss", "password": password}
    return session.post(
        f"{url}{LOGIN}?next=/admin/",
        data=data,
        headers={"Referer": f"{url}{LOGIN}"},
        allow_redirects=False,
        timeout=10,
    )


@pytest.mark.django_db(transaction=True)
def test_over_http_six_wrong_passwords_do_not_keep_the_admin_out(site):
    statuses = [http_login(site, f"guess-{n}", ATTACKER).status_code for n in range(6)]
    assert statuses[-1] == 429
    assert http_login(site, PASSWORD, ATTACKER).status_code == 429
    admin = http_login(site, PASSWORD, ADMIN_HOME)
    assert admin.status_code == 302
    assert admin.headers["Location"] == "/admin/"
