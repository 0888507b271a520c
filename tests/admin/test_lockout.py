"""Lockout without denial of service: failures count per (username, address) and per address,
never per username alone, so nobody can lock the admin out from every address; brute force and
a slow spray across usernames from one address stay locked out.

The last test runs a real gunicorn behind a pretend ingress (MARVELSITE_TRUSTED_PROXIES=1,
X-Forwarded-For) over HTTP on loopback, with real sessions and CSRF tokens.
"""

import uuid

import pytest
import requests
from axes.models import AccessAttempt
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from tests.support.live_site import admin_login, served_site

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


@pytest.fixture
def site(tmp_path):
    from django.conf import settings

    on_mongodb = connection.vendor == "mongodb"
    database = f"lockout_{uuid.uuid4().hex[:8]}"
    try:  # the database goes however the test ends, a failed start included
        with served_site(
            tmp_path,
            mongodb_uri=settings.DATABASES["default"]["HOST"] if on_mongodb else None,
            seed=None,
            static=False,
            ready="/healthz",
            DJANGO_DEBUG="false",
            DJANGO_SETTINGS_MODULE="tests.settings",  # plain HTTP, static files from the apps
            DJANGO_SUPERUSER_PASSWORD=PASSWORD,
            MARVELSITE_OTP_REQUIRED=None,  # the site's default
            MONGODB_NAME=database if on_mongodb else None,
            GUNICORN_WORKERS="2",
            GUNICORN_WORKER_TMP_DIR=str(tmp_path),
            MARVELSITE_TRUSTED_PROXIES="1",
        ) as served:
            yield served.base
    finally:
        if on_mongodb:
            connection.connection.drop_database(database)


def http_login(url: str, password: str, address: str) -> requests.Response:
    """A browser's login from `address`, as the ingress forwards it."""
    session = requests.Session()
    session.headers["X-Forwarded-For"] = address
    return admin_login(url, session, password, query="?next=/admin/")


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_over_http_six_wrong_passwords_do_not_keep_the_admin_out(site):
    statuses = [http_login(site, f"guess-{n}", ATTACKER).status_code for n in range(6)]
    assert statuses[-1] == 429
    assert http_login(site, PASSWORD, ATTACKER).status_code == 429
    admin = http_login(site, PASSWORD, ADMIN_HOME)
    assert admin.status_code == 302
    assert admin.headers["Location"] == "/admin/"
