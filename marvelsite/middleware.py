"""Database down -> a friendly 503 page on every page (no stack trace, no secrets).

Django turns a view's exception into a response through process_exception hooks, including
errors raised while a TemplateResponse renders (lazy QuerySets) and in lazy request.user /
session loading, which happen inside the view too. Nothing is cached: the next request tries the
database again, so pages recover by themselves when it returns. /healthz and /readyz are
answered before this runs (marvelsite.health).
"""

import logging

from django.db import DataError, IntegrityError
from django.http import HttpResponse
from django.template.loader import render_to_string

from marvelsite.health import DATABASE_ERRORS

logger = logging.getLogger(__name__)

# Errors about the request's own data are bugs to see as 500s, not an outage.
NOT_AN_OUTAGE = (IntegrityError, DataError)
RETRY_AFTER_SECONDS = 30


def unavailable_response(request) -> HttpResponse:
    try:
        body = render_to_string("503.html", request=request)
    except Exception:  # the page itself must not fail (e.g. a context processor needing the DB)
        logger.exception("could not render 503.html")
        body = "<!doctype html><title>Unavailable</title><h1>Temporarily unavailable</h1>"
    response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DATABASE_ERRORS) or isinstance(exception, NOT_AN_OUTAGE):
            return None
        logger.error(
            "database unavailable on %s: %s: %s",
            request.path,
            type(exception).__name__,
            exception,
        )
        return unavailable_response(request)
