"""marvelsite/csp_header.py: the Content-Security-Policy built once gives what django-csp's own
middleware gives, follows the settings, and leaves per-view policies to django-csp."""

import pytest
from csp.constants import NONCE, SELF
from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from csp.utils import build_policy
from django.http import HttpResponse
from django.test import RequestFactory

from marvelsite.csp_header import CSPMiddleware

HEADERS = ("Content-Security-Policy", "Content-Security-Policy-Report-Only")


def headers_from(middleware_class, path="/characters/", **attributes):
    request = RequestFactory().get(path)
    middleware = middleware_class(lambda request: HttpResponse("page"))
    middleware.process_request(request)
    response = HttpResponse("page")
    for name, value in attributes.items():
        setattr(response, name, value)
    response = middleware.process_response(request, response)
    return {name: response.get(name) for name in HEADERS}


def test_the_same_header_as_django_csp():
    ours = headers_from(CSPMiddleware)
    assert ours == headers_from(DjangoCSPMiddleware)
    assert "default-src 'self'" in ours["Content-Security-Policy"]


def test_a_change_of_settings_is_followed(settings):
    before = headers_from(CSPMiddleware)
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"img-src": ["'self'"]}}
    after = headers_from(CSPMiddleware)
    assert after != before
    assert after == headers_from(DjangoCSPMiddleware)
    assert after["Content-Security-Policy"] == "default-src 'none'"
    assert "img-src 'self'" in after["Content-Security-Policy-Report-Only"]


@pytest.mark.parametrize(
    "attributes",
    [{"_csp_update": {"img-src": ["https://example.test"]}}, {"_csp_exempt": True}],
)
def test_per_view_policies_go_through_django_csp(attributes):
    ours = headers_from(CSPMiddleware, **attributes)
    assert ours == headers_from(DjangoCSPMiddleware, **attributes)
    assert ours != headers_from(CSPMiddleware)


def test_a_used_nonce_goes_through_django_csp(settings):
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"script-src": [SELF, NONCE]}}
    request = RequestFactory().get("/")
    middleware = CSPMiddleware(lambda request: HttpResponse())
    middleware.process_request(request)
    nonce = str(request.csp_nonce)
    response = middleware.process_response(request, HttpResponse())
    assert f"'nonce-{nonce}'" in response["Content-Security-Policy"]


def test_built_once_for_many_responses(monkeypatch):
    import marvelsite.csp_header

    calls = []

    def counted(*args, **kwargs):
        calls.append(kwargs.get("report_only", False))
        return build_policy(*args, **kwargs)

    monkeypatch.setattr(marvelsite.csp_header, "build_policy", counted)
    middleware = CSPMiddleware(lambda request: HttpResponse())
    for _ in range(5):
        request = RequestFactory().get("/characters/")
        middleware.process_request(request)
        response = middleware.process_response(request, HttpResponse())
        assert "default-src 'self'" in response["Content-Security-Policy"]
    assert calls == [False, True]  # the policy and the report-only one, once
