"""Reads through a member's death (marvelsite/middleware.py, marvelsite/breaker.py).

On both backends, with faults raised where a view reads: a public page whose read fails with
a transient error (a dropped connection, an election's "not primary") is run again once and
answers 200, and the breaker does not hear of it; a second failure is a 503 and counts once;
a server-selection timeout is not retried and opens the breaker at once; a request the server
rejects (bad input) is a 500 and never counts; the admin is not retried.

On MongoDB, the real thing: a 3-member replica set whose primary is SIGKILLed while 8 clients
read an uncached list page through the real gunicorn; the share of failed requests stays
within the target (<= 1%). Figures per kill: python -m bench.outage.
"""

import signal
import threading
import time

import pytest
from django.db import DatabaseError
from pymongo.errors import AutoReconnect, NotPrimaryError, OperationFailure
from pymongo.errors import ServerSelectionTimeoutError as SelectionTimeout

from characters.views import CharacterListView
from marvelsite import breaker
from marvelsite.breaker import breaker_for
from tests.support.live_site import get, served_site
from tests.support.page_data import make_character

FAILED_SHARE = 0.01  # the target per kill


def wrapped(cause: Exception) -> DatabaseError:
    """As django-mongodb-backend raises it: an empty DatabaseError caused by the driver's."""
    error = DatabaseError()
    error.__cause__ = cause
    return error


@pytest.fixture
def breaker_on(settings):
    breaker.reset_all()
    settings.DB_BREAKER_SECONDS = 30
    settings.DB_BREAKER_FAILURES = 3
    yield breaker_for("default")
    breaker.reset_all()


@pytest.fixture
def failing_reads(monkeypatch):
    """failing_reads(*errors): the list page's query raises these, one per run, then works.
    Returns the list of runs made."""
    real = CharacterListView.get_queryset

    def arm(*errors):
        runs, pending = [], list(errors)

        def get_queryset(view):
            runs.append(view.request.path)
            if pending:
                raise pending.pop(0)
            return real(view)

        monkeypatch.setattr(CharacterListView, "get_queryset", get_queryset)
        return runs

    return arm


@pytest.fixture
def hulk(db):
    return make_character(1009351, "Hulk")


TRANSIENT = [
    pytest.param(lambda: wrapped(AutoReconnect("connection closed")), id="dropped-connection"),
    pytest.param(lambda: wrapped(NotPrimaryError("not primary")), id="not-primary"),
    pytest.param(lambda: wrapped(OperationFailure("election", code=11602)), id="repl-state-change"),
]


@pytest.mark.parametrize("error", TRANSIENT)
def test_a_transient_read_error_is_retried_at_once_and_not_counted(
    client, hulk, breaker_on, failing_reads, caplog, error
):
    runs = failing_reads(error())
    response = client.get("/characters/")
    assert response.status_code == 200
    assert "Hulk" in response.content.decode()
    assert len(runs) == 2
    assert "read retried on /characters/" in caplog.text
    assert "database unavailable" not in caplog.text
    # Not one failure on record: two more failed pages in a row still do not open it.
    for _ in range(2):
        failing_reads(error(), error())
        assert client.get("/characters/").status_code == 503
    assert not breaker_on.is_open


def test_failures_after_the_retry_open_the_breaker_after_several_in_a_row(
    client, hulk, breaker_on, failing_reads
):
    for attempt in range(3):
        assert not breaker_on.is_open, attempt
        runs = failing_reads(*(wrapped(AutoReconnect("connection closed")) for _ in range(2)))
        response = client.get("/characters/")
        assert response.status_code == 503
        assert len(runs) == 2  # retried once, no more
    assert breaker_on.is_open
    refused = failing_reads()
    assert client.get("/characters/").status_code == 503
    assert refused == []  # answered without running the view


def test_a_server_selection_timeout_is_not_retried_and_opens_at_once(
    client, hulk, breaker_on, failing_reads
):
    runs = failing_reads(wrapped(SelectionTimeout("no member answered")))
    assert client.get("/characters/").status_code == 503
    assert len(runs) == 1
    assert breaker_on.is_open


def test_a_request_the_server_rejects_is_a_500_and_never_counts(
    client, hulk, breaker_on, failing_reads
):
    client.raise_request_exception = False
    bad_regex = wrapped(OperationFailure("Regular expression is invalid", code=51091))
    for _ in range(5):
        runs = failing_reads(bad_regex)
        assert client.get("/characters/").status_code == 500
        assert len(runs) == 1
    assert not breaker_on.is_open
    assert client.get("/characters/").status_code == 200


def test_the_admin_is_not_retried(admin_client, hulk, breaker_on, monkeypatch):
    from django.contrib import admin

    from characters.models import Character

    runs = []

    def get_queryset(self, request):
        runs.append(request.path)
        raise wrapped(AutoReconnect("connection closed"))

    monkeypatch.setattr(type(admin.site._registry[Character]), "get_queryset", get_queryset)
    assert admin_client.get("/admin/characters/character/").status_code == 503
    assert len(runs) == 1


# --- the real thing: a primary SIGKILLed under load, through gunicorn -----------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with served_site(tmp_path_factory.mktemp("failover"), members=3) as served:
        yield served.replica_set, served.base, served.log_path


def load(base, path, clients, seconds):
    """`clients` threads GET base+path for `seconds`: [(end time, status)], 0 for no answer."""
    records, started = [], time.monotonic()

    def client():
        import requests

        session = requests.Session()
        while time.monotonic() - started < seconds:
            try:
                status = session.get(base + path, timeout=10, allow_redirects=False).status_code
            except requests.RequestException:
                status = 0
            records.append((time.monotonic(), status))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    return threads, records


@pytest.mark.mongodb("failover, in the suite's MongoDB pass")
@pytest.mark.slow
def test_killing_the_primary_under_load_fails_almost_no_reads(site):
    replica_set, base, log_path = site
    assert get(base + "/characters/").status_code == 200
    threads, records = load(base, "/characters/", clients=8, seconds=12)
    time.sleep(4)
    primary = replica_set.primary_index()
    killed_at = time.monotonic()
    replica_set.kill(primary, signal.SIGKILL)
    for thread in threads:
        thread.join(timeout=60)
    after = [status for end, status in records if end >= killed_at]
    failed = [status for status in after if status != 200]
    assert len(after) >= 20, "too few requests after the kill to judge"
    assert len(failed) <= FAILED_SHARE * len(after), (
        f"{len(failed)} of {len(after)} failed: {sorted(set(failed))}\n"
        + log_path.read_text()[-3000:]
    )
    replica_set.start_member(primary)
    replica_set.wait_for_primary(60)
