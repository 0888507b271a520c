"""Prometheus metrics: requests answered and their latency, served on a port of their own.

gunicorn binds MARVELSITE_METRICS_PORT beside the site's port (marvelsite/gunicorn_conf.py).
This middleware, placed first, answers GET /metrics on that port and nothing else there, and
leaves the site's port alone, where /metrics is an ordinary 404: the public Service, which
exposes only the site's port, never serves metrics. It runs before host validation and the
HTTPS redirect, because Prometheus scrapes the pod IP over plain HTTP. The port is the listening
socket's (gunicorn's SERVER_PORT), not anything a client sends.

gunicorn runs several worker processes: in prometheus_client's multiprocess mode (the
PROMETHEUS_MULTIPROC_DIR that gunicorn_conf.py sets) a scrape adds up every worker's samples.
"""

import os
import time

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpResponse, HttpResponseNotFound
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

# Any other method is counted as "other": label values must not come from clients unbounded.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "marvelsite_http_requests",
    "HTTP requests answered, by method, URL pattern name and status code.",
    ["method", "view", "status"],
)
LATENCY = Histogram(
    "marvelsite_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and URL pattern name.",
    ["method", "view"],
)


def exposition() -> bytes:
    """Every metric in Prometheus' text format, summed over gunicorn's workers when forked."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


class MetricsMiddleware:
    """/metrics on settings.METRICS_PORT only; request counts and latencies everywhere else."""

    def __init__(self, get_response):
        if settings.METRICS_PORT is None:
            raise MiddlewareNotUsed
        self.metrics_port = str(settings.METRICS_PORT)
        self.get_response = get_response

    def __call__(self, request):
        if request.META.get("SERVER_PORT") == self.metrics_port:
            if request.path == "/metrics" and request.method in ("GET", "HEAD"):
                return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
            return HttpResponseNotFound()
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in METHODS else "other"
        # The URL pattern's name, never the path: one series per page, not per character.
        match = request.resolver_match
        view = match.view_name if match is not None else "none"
        LATENCY.labels(method, view).observe(time.perf_counter() - started)
        REQUESTS.labels(method, view, str(response.status_code)).inc()
        return response
