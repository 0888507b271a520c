"""/metrics: served on the metrics port only, never on the site's, and summed over gunicorn's
workers. The Django test client sets SERVER_PORT as gunicorn does (from the listening socket);
the last tests run the real gunicorn, as the container does, on loopback."""

import urllib.error
import urllib.request

import pytest
from django.test import Client

from tests.support.live_site import HOST, free_port, served_site

METRICS_PORT = 9100


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_PORT = METRICS_PORT
    return Client()  # loads the middleware with this setting on its first request


def test_metrics_port_serves_prometheus_text(metrics_on):
    assert metrics_on.get("/healthz").status_code == 200
    response = metrics_on.get("/metrics", SERVER_PORT=str(METRICS_PORT))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    body = response.content.decode()
    assert 'marvelsite_http_requests_total{method="GET",status="200",view="none"}' in body
    assert "marvelsite_http_request_duration_seconds_bucket" in body


@pytest.mark.django_db
def test_site_port_never_serves_metrics(metrics_on):
    response = metrics_on.get("/metrics")  # SERVER_PORT 80: the site's port
    assert response.status_code == 404
    assert b"marvelsite_http_requests" not in response.content


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/"), ("get", "/healthz"), ("get", "/admin/"), ("post", "/metrics")],
)
def test_metrics_port_serves_nothing_else(metrics_on, method, path):
    response = getattr(metrics_on, method)(path, SERVER_PORT=str(METRICS_PORT))
    assert response.status_code == 404
    assert response.content == b""


def test_pages_are_counted_by_url_name_not_path(metrics_on):
    metrics_on.get("/characters/not-a-number/")  # no pattern matches: "none", whatever the path
    body = metrics_on.get("/metrics", SERVER_PORT=str(METRICS_PORT)).content.decode()
    assert "not-a-number" not in body


def test_unknown_methods_are_one_label_value(metrics_on):
    metrics_on.generic("BREW", "/healthz")
    body = metrics_on.get("/metrics", SERVER_PORT=str(METRICS_PORT)).content.decode()
    assert 'method="other"' in body
    assert "BREW" not in body


@pytest.mark.django_db
def test_without_a_metrics_port_there_is_no_metrics_endpoint(settings):
    settings.METRICS_PORT = None
    response = Client().get("/metrics", SERVER_PORT=str(METRICS_PORT))
    assert response.status_code == 404
    assert b"marvelsite_http_requests" not in response.content


# --- the real gunicorn -------------------------------------------------------------------


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    """gunicorn with the container's config: 2 workers, the site's port and the metrics port."""
    data_dir = tmp_path_factory.mktemp("gunicorn")
    metrics = free_port()
    with served_site(
        data_dir,
        seed=None,
        migrate=False,
        static=False,
        ready="/healthz",
        # The test settings: the real ones over plain HTTP, static files without collectstatic.
        DJANGO_SETTINGS_MODULE="tests.settings",
        GUNICORN_WORKERS="2",
        GUNICORN_WORKER_TMP_DIR=str(data_dir),
        MARVELSITE_METRICS_PORT=str(metrics),
        PROMETHEUS_MULTIPROC_DIR=str(data_dir / "prometheus"),
    ) as site:
        yield site.base, f"http://{HOST}:{metrics}"


@pytest.mark.slow
def test_gunicorn_serves_metrics_on_its_second_port_only(gunicorn):
    site, metrics = gunicorn
    assert fetch(f"{site}/metrics")[0] == 404
    assert fetch(f"{metrics}/healthz")[0] == 404
    status, body = fetch(f"{metrics}/metrics")
    assert status == 200
    assert "marvelsite_http_requests_total" in body


@pytest.mark.slow
def test_gunicorn_metrics_add_up_every_workers_requests(gunicorn):
    site, metrics = gunicorn

    def healthz_count() -> float:
        line = 'marvelsite_http_requests_total{method="GET",status="200",view="none"} '
        body = fetch(f"{metrics}/metrics")[1]
        return sum(float(row[len(line) :]) for row in body.splitlines() if row.startswith(line))

    before = healthz_count()
    for _ in range(40):  # a new connection each: the two workers share them out
        assert fetch(f"{site}/healthz")[0] == 200
    # One worker's registry alone would miss the other's share: multiprocess mode sums them.
    assert healthz_count() - before == 40
