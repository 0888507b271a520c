"""The database circuit breaker (marvelsite/breaker.py, marvelsite/middleware.py), on both
backends: once the database is shown down (a server-selection timeout, or several failures in
a row), requests answer 503 at once with Retry-After, without touching the database, until the
breaker lets a trial through; any success closes it. The same against a real replica
set whose members are stopped, under a real gunicorn: tests/database/test_outage.py."""

import threading
import time

import pytest

from marvelsite import breaker
from marvelsite.breaker import CircuitBreaker
from tests.support.page_data import make_character
from tests.support.unreachable import database_unreachable

pytestmark = pytest.mark.django_db


@pytest.fixture
def breaker_seconds(settings):
    breaker.reset_all()
    settings.DB_BREAKER_SECONDS = 1
    yield 1
    breaker.reset_all()


@pytest.fixture
def hulk():
    return make_character(1009351, "Hulk", comics=[(5001, "Incredible Hulk (1962) #1")])


def test_an_outage_refuses_at_once_even_once_the_database_is_back(
    client, admin_client, on_mongodb, breaker_seconds, hulk, settings
):
    # MongoDB: a server-selection timeout proves the outage at once; SQLite's "unable to open"
    # does after MARVELSITE_DB_BREAKER_FAILURES failures in a row.
    failures = 1 if on_mongodb else settings.DB_BREAKER_FAILURES
    with database_unreachable(on_mongodb):
        for _ in range(failures):
            response = client.get("/characters/1009351/hulk/")
            assert response.status_code == 503
            assert response["Retry-After"] == "1"
    # The database answers again, but the breaker does not ask it yet: proof that a refused
    # request never reached it.
    refused = client.get("/characters/1009351/hulk/")
    assert refused.status_code == 503
    assert refused["Retry-After"] == "1"
    assert "The site is temporarily unavailable" in refused.content.decode()
    assert admin_client.get("/admin/characters/character/").status_code == 503
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable"}
    time.sleep(breaker_seconds + 0.1)  # the breaker's window, not a measurement
    assert client.get("/characters/1009351/hulk/").status_code == 200  # the trial closes it
    assert client.get("/characters/").status_code == 200


def test_without_the_breaker_every_request_asks_the_database(client, on_mongodb, hulk):
    with database_unreachable(on_mongodb):
        assert client.get("/characters/").status_code == 503
    assert client.get("/characters/").status_code == 200


def opened(guard: CircuitBreaker) -> CircuitBreaker:
    guard.record(failed=True, outage=True)
    return guard


def test_one_failure_is_not_an_outage_several_in_a_row_are(breaker_seconds, settings):
    settings.DB_BREAKER_FAILURES = 3
    guard = CircuitBreaker()
    guard.record(failed=True)
    guard.record(failed=True)
    assert guard.refusal() == 0
    assert not guard.is_open
    guard.record(failed=False)  # a success between them: not in a row
    guard.record(failed=True)
    guard.record(failed=True)
    assert guard.refusal() == 0
    guard.record(failed=True)
    assert 0 < guard.refusal() <= breaker_seconds
    assert guard.is_open


def test_a_server_selection_timeout_opens_it_at_once(breaker_seconds):
    guard = CircuitBreaker()
    guard.record(failed=True, outage=True)
    assert 0 < guard.refusal() <= breaker_seconds


def test_half_open_lets_one_trial_through_at_a_time(breaker_seconds):
    guard = opened(CircuitBreaker())
    time.sleep(breaker_seconds + 0.1)
    assert guard.refusal() == 0  # the trial
    assert guard.refusal() > 0  # everyone else, while the trial runs
    guard.record(failed=True)  # the trial failed: one failure is enough to open it again
    assert guard.refusal() > 0.5
    time.sleep(breaker_seconds + 0.1)
    assert guard.refusal() == 0
    guard.record(failed=False)  # the trial succeeded: closed
    assert [guard.refusal() for _ in range(3)] == [0, 0, 0]
    assert not guard.is_open


def test_the_first_successful_trial_closes_it_whatever_failed_meanwhile(breaker_seconds):
    guard = opened(CircuitBreaker())
    time.sleep(breaker_seconds + 0.1)
    assert guard.refusal() == 0  # the trial starts
    # A request let through before the breaker opened fails late, while the trial runs: it
    # opens the breaker again. Then the trial succeeds: the database works, so it closes.
    guard.record(failed=True)
    guard.record(failed=False)
    assert not guard.is_open
    assert guard.refusal() == 0
    guard.record(failed=True)  # and the count of failures in a row starts again
    assert guard.refusal() == 0


def test_the_breaker_off_never_opens(settings):
    settings.DB_BREAKER_SECONDS = 0
    guard = CircuitBreaker()
    for _ in range(10):
        guard.record(failed=True, outage=True)
    assert guard.refusal() == 0


def test_concurrent_requests_get_exactly_one_trial(breaker_seconds):
    guard = opened(CircuitBreaker())
    time.sleep(breaker_seconds + 0.1)
    verdicts = []
    threads = [threading.Thread(target=lambda: verdicts.append(guard.refusal())) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(verdicts).count(0) == 1


def test_breakers_are_per_alias(breaker_seconds):
    opened(breaker.breaker_for("default"))
    assert breaker.breaker_for("default").refusal() > 0
    assert breaker.breaker_for("reads").refusal() == 0


def test_the_breaker_window_and_threshold_are_settings(tmp_path):
    from tests.support.manage import shell_line

    code = (
        "from django.conf import settings; "
        "print(settings.DB_BREAKER_SECONDS, settings.DB_BREAKER_FAILURES)"
    )
    printed = shell_line(
        code,
        data_dir=tmp_path,
        DJANGO_DEBUG="true",
        MARVELSITE_DB_BREAKER_SECONDS="9",
        MARVELSITE_DB_BREAKER_FAILURES="4",
    )
    assert printed == "9 4"
