"""django-csp's middleware, with the policy's text built once per process and settings.

This site sets no nonce and no per-view policy, so every response carries the same header;
django-csp builds it on every response (the policy and the report-only one), a visible part
of a cached page's CPU. A response or request that does use those goes through django-csp as is.
"""

from dataclasses import asdict

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from csp.utils import build_policy
from django.conf import settings

PER_VIEW = ("_csp_config", "_csp_update", "_csp_replace")
PER_VIEW += tuple(f"{name}_ro" for name in PER_VIEW)
# For these django-csp may leave the header out (its debug pages).
DEBUG_CODES = (404, 500)


class CSPMiddleware(DjangoCSPMiddleware):
    _built: tuple = (None, ())

    def process_response(self, request, response):
        if (
            getattr(request, "_csp_nonce", None) is not None
            or response.status_code in DEBUG_CODES
            or any(getattr(response, name, None) is not None for name in PER_VIEW)
        ):
            return super().process_response(request, response)
        for header, text, exempt, policy in self.built(request, response):
            prefixes = tuple((policy or {}).get("EXCLUDE_URL_PREFIXES", None) or ())
            if (
                text
                and header not in response
                and getattr(response, exempt, False) is False
                and not request.path_info.startswith(prefixes)
            ):
                response[header] = text
        if getattr(request, "_csp_nonce", None) is None:  # as django-csp: no nonce from now on
            request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response

    def built(self, request, response) -> tuple:
        """[(header, its text, the exemption's attribute, the policy setting)], built again
        when the settings change (tests override them)."""
        policies = (  # None when unset: a fresh {} each time would never match
            getattr(settings, "CONTENT_SECURITY_POLICY", None),
            getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None),
        )
        held, built = self._built  # the settings' objects themselves: compared by identity
        if held is None or any(a is not b for a, b in zip(held, policies, strict=True)):
            parts = [self.get_policy_parts(request, response, report_only=ro) for ro in (0, 1)]
            built = (
                (HEADER, build_policy(**asdict(parts[0])), "_csp_exempt", policies[0]),
                (HEADER_REPORT_ONLY, build_policy(**asdict(parts[1]), report_only=True),
                 "_csp_exempt_ro", policies[1]),
            )  # fmt: skip
            self._built = (policies, built)
        return built
