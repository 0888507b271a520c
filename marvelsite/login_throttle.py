"""Admin login throttling with django-axes: who the client is, and what a locked-out one gets.

The counts live in the database (axes' AccessAttempt), so every worker and pod sees the same
ones. Settings: AXES_* in marvelsite/settings.py, from MARVELSITE_LOGIN_* (docs/configuration.md).
"""

from axes.helpers import get_cool_off
from django.conf import settings
from django.template.response import TemplateResponse


def client_address(request) -> str | None:
    """The address that counts for throttling.

    Without proxies in front (MARVELSITE_TRUSTED_PROXIES=0) the peer, REMOTE_ADDR. Behind N
    proxies that each append the address they saw to X-Forwarded-For (an ingress controller),
    the N-th entry from the right: what the outermost proxy saw. Entries further left are the
    client's own claims and would let it pick a fresh address for every attempt.
    """
    proxies = settings.TRUSTED_PROXIES
    forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [hop for hop in forwarded if hop]
    if proxies and len(forwarded) >= proxies:
        return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")


def lockout_response(request, original_response=None, credentials=None):
    """429 with Retry-After and a page that says why and for how long."""
    seconds = int(get_cool_off(request).total_seconds())
    response = TemplateResponse(
        request,
        "429.html",
        {"minutes": max(1, round(seconds / 60)), "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    response["Cache-Control"] = "no-store"
    return response.render()
