"""Admin login throttling (django-axes, marvelsite/login_throttle.py), on both backends.

After AXES_FAILURE_LIMIT failed logins for a username from one address, or from one address,
attempts from there are refused with a 429 for the cool-off (tests/admin/test_lockout.py: never
for a username from everywhere), without hashing the password; a successful login resets the count.
"""

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.test import Client, RequestFactory
from django.utils import timezone

from marvelsite.login_throttle import client_address
from tests.support.hashers import CountingHasher
from tests.support.manage import shell_line

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
PASSWORD = "the-right-password-42"


@pytest.fixture
def boss(django_user_model):
    return django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)


@pytest.fixture
def limit(settings):
    return settings.AXES_FAILURE_LIMIT


@pytest.fixture
def hashes(settings):
    """How many times a password is hashed (checked or made), from now on."""
    settings.PASSWORD_HASHERS = ["tests.support.hashers.CountingHasher"]
    CountingHasher.calls = 0
    return CountingHasher


def login(username, password, address="198.51.100.1", client=None, **headers):
    client = client or Client()
    data = {"username": username, "password": password, "next": "/admin/"}
    return client.post(LOGIN, data, REMOTE_ADDR=address, **headers)


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def assert_refused(response, settings):
    assert response.status_code == 429
    assert response["Retry-After"] == str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    assert "Too many login attempts" in response.content.decode()


def test_wrong_passwords_then_the_right_one_is_refused_without_hashing(
    boss, limit, hashes, settings
):
    responses = [login("boss", f"guess-{n}") for n in range(limit)]
    assert [r.status_code for r in responses[:-1]] == [200] * (limit - 1)  # the form again
    assert_refused(responses[-1], settings)  # the limit-th failure locks
    assert hashes.calls == limit  # every failure up to the lock was checked

    hashes.calls = 0
    client = Client()
    assert_refused(login("boss", PASSWORD, client=client), settings)
    assert hashes.calls == 0  # refused before any hashing
    assert client.get("/admin/")["Location"].startswith(LOGIN)  # not logged in


def test_an_address_is_locked_for_every_username(boss, limit, settings):
    for n in range(limit):
        login(f"nobody-{n}", "wrong", address="198.51.100.7")
    assert_refused(login("boss", PASSWORD, address="198.51.100.7"), settings)
    assert logged_in(login("boss", PASSWORD, address="203.0.113.99"))


def test_a_successful_login_resets_the_count(boss, limit):
    for _ in range(2):
        for _ in range(limit - 1):
            assert login("boss", "wrong").status_code == 200
        assert logged_in(login("boss", PASSWORD))
    assert not AccessAttempt.objects.filter(username="boss").exists()


def test_the_lockout_ends_after_the_cool_off(boss, limit, settings):
    for _ in range(limit):
        login("boss", "wrong")
    assert_refused(login("boss", PASSWORD), settings)
    # The attempts' times, moved back past the cool-off, instead of waiting for it.
    past = timezone.now() - settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1)
    assert AccessAttempt.objects.update(attempt_time=past) >= 1
    assert logged_in(login("boss", PASSWORD))


def test_refused_attempts_do_not_extend_the_cool_off(boss, limit, settings):
    for _ in range(limit):
        login("boss", "wrong")
    locked_at = AccessAttempt.objects.get(username="boss").attempt_time
    for _ in range(3):
        assert_refused(login("boss", "wrong"), settings)
    attempt = AccessAttempt.objects.get(username="boss")
    assert (attempt.attempt_time, attempt.failures_since_start) == (locked_at, limit)


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "", "10.1.2.3"),
        (0, "203.0.113.5", "10.1.2.3"),  # no proxy trusted: the header is the client's claim
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "6.6.6.6, 203.0.113.5", "203.0.113.5"),  # the left entry was sent by the client
        (2, "6.6.6.6, 203.0.113.5, 10.9.9.9", "203.0.113.5"),
        (2, "203.0.113.5", "10.1.2.3"),  # fewer hops than proxies: not through them
    ],
)
def test_client_address_trusts_only_the_configured_proxies(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXIES = proxies
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = RequestFactory().post(LOGIN, REMOTE_ADDR="10.1.2.3", **headers)
    assert client_address(request) == expected


def test_behind_a_proxy_a_forged_forwarded_for_does_not_escape_the_lockout(boss, limit, settings):
    settings.TRUSTED_PROXIES = 1
    for n in range(limit):
        forged = f"192.0.2.{n}, 203.0.113.5"  # a new claimed address each time, same real one
        login(f"nobody-{n}", "wrong", address="10.0.0.2", HTTP_X_FORWARDED_FOR=forged)
    refused = login("boss", PASSWORD, address="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert_refused(refused, settings)


def test_throttling_settings_come_from_the_environment(tmp_path):
    code = (
        "from django.conf import settings; print(settings.AXES_FAILURE_LIMIT, "
        "settings.AXES_COOLOFF_TIME.total_seconds(), settings.TRUSTED_PROXIES)"
    )
    printed = shell_line(
        code,
        data_dir=tmp_path,
        DJANGO_DEBUG="true",
        MARVELSITE_LOGIN_FAILURES="3",
        MARVELSITE_LOGIN_COOLOFF_SECONDS="60",
        MARVELSITE_TRUSTED_PROXIES="1",
    )
    assert printed == "3 60.0 1"
