"""The Marvel API client against the replay server (a real HTTP server on 127.0.0.1)."""

import hashlib
import logging
import time
from types import SimpleNamespace

import pytest

from characters.ingest.api import (
    MarvelAPIError,
    MarvelAuthError,
    MarvelClient,
    MarvelRequestError,
    RetryPolicy,
    auth_params,
    mask_secrets,
)
from characters.ingest.recordings import BUNDLED_DATASET
from tests.support.replay_server import ReplayServer, load_records

PUBLIC, PRIVATE = "pub-0123456789abcdef", "priv-fedcba9876543210"
FAST = RetryPolicy(retries=2, backoff=0.01, jitter=0.5, connect_timeout=1.0, read_timeout=0.4)


@pytest.fixture(scope="module")
def bundled_records():
    return load_records(BUNDLED_DATASET)[0]


@pytest.fixture
def server(bundled_records):
    with ReplayServer(bundled_records, public_key=PUBLIC, private_key=PRIVATE) as replay:
        yield replay


@pytest.fixture
def client(server):
    with MarvelClient(PUBLIC, PRIVATE, server.base_url, policy=FAST) as marvel:
        yield marvel


def test_auth_params_follow_marvels_scheme():
    params = auth_params("public", "private", ts="1")
    assert params == {
        "ts": "1",
        "apikey": "public",
        "hash": hashlib.md5(b"1privatepublic").hexdigest(),  # noqa: S324
    }


def test_pages_until_data_total(client, server):
    pages = list(client.pages(page_size=100))
    assert [p.offset for p in pages] == list(range(0, 1561, 100))
    assert sum(len(p.records) for p in pages) == 1561
    assert pages[0].total == 1561
    asked = [(r.params["offset"], r.params["limit"]) for r in server.requests]
    assert asked == [(str(o), "100") for o in range(0, 1561, 100)]  # no request past the total


def test_pages_stop_at_an_empty_page(client, server):
    server.set_records(server.records[:120], total=1561)  # like the recordings' own total
    pages = list(client.pages(page_size=50))
    assert [len(p.records) for p in pages] == [50, 50, 20]
    assert [r.params["offset"] for r in server.requests] == ["0", "50", "100", "120"]


def test_offset_and_max_offset(client, server):
    pages = list(client.pages(offset=200, page_size=100, max_offset=550))
    assert [p.offset for p in pages] == [200, 300, 400, 500]  # a page starts below 550


def test_bad_keys_give_one_clear_error(server):
    marvel = MarvelClient(PUBLIC, "wrong", server.base_url, policy=FAST)
    with marvel, pytest.raises(MarvelAuthError) as caught:
        marvel.fetch_characters(0, 10)
    message = str(caught.value)
    assert "401" in message
    assert "InvalidCredentials" in message
    assert "MARVEL_PRIVATE_KEY" in message
    assert len(server.requests) == 1  # not retried


def test_too_large_a_page_is_a_409(client, server):
    with pytest.raises(MarvelRequestError, match="409.*more than 100") as caught:
        client.fetch_characters(0, 101)
    assert "limit=101" in str(caught.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("kind", ["429", "500", "503", "slow", "truncated", "drop", "cut"])
def test_transient_faults_are_retried(client, server, kind):
    server.fail(kind, times=2, offset=0, retry_after=0, delay=1.5)
    envelope = client.fetch_characters(0, 10)
    assert envelope.count == 10
    assert len(server.requests) == 3
    assert [r.fault for r in server.requests] == [kind, kind, None]


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("503", "page at offset 30: HTTP 503 after retries"),
        ("429", "page at offset 30: HTTP 429 after retries"),
        ("slow", "page at offset 30: timed out"),
        ("drop", "page at offset 30: .*RemoteDisconnected"),
        ("truncated", "page at offset 30: malformed JSON after 3 attempts"),
        ("cut", "page at offset 30: the body was cut short after 3 attempts"),
    ],
)
def test_retries_are_bounded_and_the_failure_names_the_offset(client, server, kind, message):
    server.fail(kind, times=10, offset=30, retry_after=0, delay=1.5)
    with pytest.raises(MarvelAPIError, match=message) as caught:
        client.fetch_characters(30, 10)
    assert caught.value.offset == 30
    assert len(server.requests) == 3  # 1 + retries


@pytest.fixture
def slept(monkeypatch):
    """The pauses urllib3's Retry takes, not taken. Only urllib3's reference to the time module
    is replaced: patching time.sleep itself would also catch pymongo's monitor threads."""
    pauses = []
    fake_time = SimpleNamespace(**{**vars(time), "sleep": pauses.append})
    monkeypatch.setattr("urllib3.util.retry.time", fake_time)
    return pauses


def test_retry_after_is_honoured_and_capped(client, server, slept):
    server.fail("429", times=1, retry_after=7)
    server.fail("429", times=1, retry_after=86400)
    client.fetch_characters(0, 10)
    assert slept[:2] == [7, FAST.retry_after_max]


def test_backoff_grows_exponentially_with_jitter(server, slept):
    policy = RetryPolicy(retries=4, backoff=1.0, jitter=0.5)
    server.fail("500", times=4)
    with MarvelClient(PUBLIC, PRIVATE, server.base_url, policy=policy) as marvel:
        marvel.fetch_characters(0, 10)
    # urllib3: backoff * 2**(n-1) for the n-th consecutive error (none before the first
    # retry), plus up to `jitter * backoff` of random jitter.
    assert len(slept) == 3
    for sleep, base in zip(slept, [2, 4, 8], strict=True):
        assert base <= sleep <= base + 0.5


def test_keys_and_hash_never_reach_logs_or_errors(server, caplog):
    caplog.set_level(logging.DEBUG)
    server.fail("503", times=1)
    server.fail("truncated", times=10, offset=20)
    with MarvelClient(PUBLIC, PRIVATE, server.base_url, policy=FAST) as marvel:
        marvel.fetch_characters(0, 10)
        with pytest.raises(MarvelAPIError) as caught:
            marvel.fetch_characters(20, 10)
    hashes = [r.params["hash"] for r in server.requests]
    logged = caplog.text + str(caught.value) + repr(marvel)
    assert "apikey=***" in caplog.text  # urllib3 logged the URLs, masked
    for secret in [PUBLIC, PRIVATE, *hashes]:
        assert secret not in logged


def test_mask_secrets():
    url = "http://h/v1/public/characters?limit=1&ts=9&apikey=abc&hash=0f0f"
    assert mask_secrets(url) == "http://h/v1/public/characters?limit=1&ts=9&apikey=***&hash=***"


def test_the_replay_server_checks_the_hash_and_requires_keys(server):
    import requests

    url = f"{server.base_url}/characters"
    missing = requests.get(url, params={"limit": 1}, timeout=5)
    assert missing.status_code == 409
    bad = requests.get(url, params={"apikey": PUBLIC, "ts": "1", "hash": "0" * 32}, timeout=5)
    assert bad.status_code == 401
    assert bad.json()["code"] == "InvalidCredentials"
    good = requests.get(url, params={"limit": 2, **auth_params(PUBLIC, PRIVATE)}, timeout=5)
    assert good.json()["data"]["count"] == 2


def test_an_unreachable_api_fails_after_the_retries():
    import socket

    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}/v1/public"
    with (
        MarvelClient(PUBLIC, PRIVATE, base, policy=FAST) as marvel,
        pytest.raises(MarvelAPIError, match="page at offset 0: .*(Connection|refused)") as caught,
    ):
        marvel.fetch_characters(0, 10)
    assert "gave up after 2 retries" in str(caught.value)
    assert PUBLIC not in str(caught.value)
