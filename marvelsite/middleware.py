"""Database down -> a friendly 503 page on every page (no stack trace, no secrets), at once.

Each request is routed to a database alias (marvelsite/routing.py: public pages read through
"reads", the admin and writes through "default") and checked against that alias's circuit
breaker (marvelsite/breaker.py): while it is open the answer is a 503 with Retry-After, without
touching the database. Django turns a view's exception into a response through
process_exception hooks, including errors raised while a TemplateResponse renders (lazy
QuerySets) and in lazy request.user / session loading, which happen inside the view too.

A public read (GET or HEAD outside the admin) that fails with a transient error (a connection
dropped by a member that died, an election's "not primary") is run again once, at once: the
driver has marked that member unknown, so the second run reads from another one. The whole
view is retried here, in one place, rather than each query: a page reads in its view, its
template and its context processors, and a second run reads them all from the same member.
Public reads write nothing, so running one twice is safe; the admin and writes are not retried
(a form post may have written). Only the request's final outcome reaches the breaker. /healthz
and /readyz are answered before this runs (marvelsite.health).
"""

import logging
import math

from django.conf import settings
from django.db import DataError, IntegrityError
from django.http import HttpResponse
from django.template.loader import render_to_string

from marvelsite.breaker import breaker_for
from marvelsite.db_errors import (
    DATABASE_ERRORS,
    describe,
    is_rejected_request,
    is_selection_timeout,
    is_transient,
)
from marvelsite.routing import alias_for, is_public_read, reading_from

logger = logging.getLogger(__name__)

# Errors about the request's own data are bugs to see as 500s, not an outage.
NOT_AN_OUTAGE = (IntegrityError, DataError)
RETRY_AFTER_SECONDS = 30  # with the breaker off


def unavailable_response(request, retry_after: float | None = None) -> HttpResponse:
    try:
        body = render_to_string("503.html", request=request)
    except Exception:  # the page itself must not fail (e.g. a context processor needing the DB)
        logger.exception("could not render 503.html")
        body = "<!doctype html><title>Unavailable</title><h1>Temporarily unavailable</h1>"
    response = HttpResponse(body, status=503)
    if retry_after is None:
        retry_after = settings.DB_BREAKER_SECONDS or RETRY_AFTER_SECONDS
    response["Retry-After"] = str(max(1, math.ceil(retry_after)))
    response["Cache-Control"] = "no-store"
    return response


def is_outage(exception) -> bool:
    """A database error that says the database is unwell, not that the request was bad."""
    return (
        isinstance(exception, DATABASE_ERRORS)
        and not isinstance(exception, NOT_AN_OUTAGE)
        and not is_rejected_request(exception)
    )


def worth_retrying(exception) -> bool:
    # A selection timeout already waited for every member: a second wait would only double it.
    return is_transient(exception) and not is_selection_timeout(exception)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        alias = alias_for(request)
        breaker = breaker_for(alias)
        if wait := breaker.refusal():
            return unavailable_response(request, retry_after=wait)
        request.database_failure = None
        with reading_from(alias):
            response = self.get_response(request)
            failure = request.database_failure
            if failure is not None and is_public_read(request) and worth_retrying(failure):
                logger.warning("read retried on %s: %s", request.path, describe(failure))
                request.database_failure = None
                response = self.get_response(request)
        failure = request.database_failure
        if failure is not None:
            logger.error("database unavailable on %s: %s", request.path, describe(failure))
        breaker.record(
            failed=failure is not None,
            outage=failure is not None and is_selection_timeout(failure),
        )
        return response

    def process_exception(self, request, exception):
        if not is_outage(exception):
            return None
        request.database_failure = exception
        return unavailable_response(request)
