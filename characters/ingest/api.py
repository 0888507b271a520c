"""A small client for the Marvel Comics API's ``/characters`` listing.

- Authentication as Marvel documents it for server-side apps: ``ts``, ``apikey`` (public
  key) and ``hash = md5(ts + private_key + public_key)`` on every request.
- Resilience from urllib3's :class:`~urllib3.util.Retry`: exponential backoff with jitter on
  429 (honouring ``Retry-After``), 500/502/503/504, timeouts and connection errors, bounded
  by ``retries``. A body that cannot be read or parsed as a Marvel envelope (truncated or
  malformed JSON) is fetched again under the same policy (``Retry.increment``/``sleep``),
  then fails naming the page's offset.
- 401 and 409 are not retried: they raise :class:`MarvelAuthError` / :class:`MarvelRequestError`
  with Marvel's own code and message.
- Secrets never reach a log line or an exception message: ``apikey`` and ``hash`` are masked
  in every URL this module or urllib3 logs (``marvelsite.redaction``, installed by
  settings.LOGGING).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from characters.ingest.records import (
    Envelope,
    InvalidEnvelope,
    ParsedPage,
    parse_envelope,
    parse_results,
)
from marvelsite.redaction import mask_secrets, remember_secrets

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://gateway.marvel.com/v1/public"
MAX_PAGE_SIZE = 100  # Marvel answers 409 above this
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "marvelsite-seed/1.0 (+requests)"


class MarvelAPIError(Exception):
    """The API could not give us a page; the message says why (secrets masked)."""

    def __init__(self, message: str, *, offset: int | None = None, status: int | None = None):
        super().__init__(mask_secrets(message))
        self.offset = offset
        self.status = status


class MarvelAuthError(MarvelAPIError):
    """401: the keys (or the ts/hash made from them) were refused."""


class MarvelRequestError(MarvelAPIError):
    """409 (or another 4xx): the request's parameters were refused."""


class _Retry(Retry):
    """urllib3's Retry, logging each retry (masked) at WARNING so a Job's log shows it."""

    def increment(self, method=None, url=None, response=None, error=None, *args, **kwargs):
        new = super().increment(method, url, response, error, *args, **kwargs)
        cause = f"HTTP {response.status}" if response is not None and response.status else error
        attempt = len(new.history) + 1
        limit = (self.total or 0) + len(self.history) + 1
        logger.warning(
            "Marvel API: retrying %s (attempt %d of %d) after %s",
            mask_secrets(url or ""),
            attempt,
            limit,
            mask_secrets(str(cause)),
        )
        return new


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: ``retries`` extra attempts, backoff ``backoff * 2**n`` (+ jitter)."""

    retries: int = 5
    backoff: float = 1.0
    backoff_max: float = 30.0
    jitter: float = 0.5
    retry_after_max: int = 120
    connect_timeout: float = 5.0
    read_timeout: float = 30.0

    def make_retry(self) -> Retry:
        return _Retry(
            total=self.retries,
            connect=self.retries,
            read=self.retries,
            status=self.retries,
            other=self.retries,
            redirect=3,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.backoff,
            backoff_max=self.backoff_max,
            backoff_jitter=self.jitter * self.backoff,
            respect_retry_after_header=True,
            retry_after_max=self.retry_after_max,
            raise_on_status=False,  # give us the last 5xx/429 response to report
            raise_on_redirect=True,
        )


def auth_params(public_key: str, private_key: str, ts: str | None = None) -> dict[str, str]:
    """``ts``, ``apikey`` and ``hash = md5(ts + private + public)`` (Marvel's scheme)."""
    ts = ts if ts is not None else str(time.time_ns())
    digest = hashlib.md5((ts + private_key + public_key).encode(), usedforsecurity=False)
    return {"ts": ts, "apikey": public_key, "hash": digest.hexdigest()}


def _error_detail(response: requests.Response) -> str:
    """Marvel's error body: ``{"code": "InvalidCredentials", "message": "..."}`` or
    ``{"code": 409, "status": "..."}``."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason or ""
    if isinstance(body, dict):
        code = body.get("code", response.status_code)
        message = body.get("message") or body.get("status") or ""
        return f"{code}: {message}" if message else str(code)
    return str(body)[:200]


def _describe(exc: BaseException) -> str:
    """A short, secret-free cause for a requests/urllib3 exception."""
    reason = exc
    for _ in range(5):  # requests wraps urllib3's MaxRetryError, which wraps the cause
        if isinstance(reason, MaxRetryError) and reason.reason is not None:
            reason = reason.reason
        elif (
            isinstance(reason, requests.RequestException)
            and reason.args
            and isinstance(reason.args[0], BaseException)
        ):
            reason = reason.args[0]
        else:
            break
    if "Timeout" in type(reason).__name__:
        return "timed out"
    return mask_secrets(f"{type(reason).__name__}: {reason}")[:300]


class MarvelClient:
    """Fetches ``/characters`` pages; one instance reuses one HTTP session."""

    def __init__(
        self,
        public_key: str,
        private_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if not public_key or not private_key:
            raise ValueError("both the public and the private key are required")
        self.public_key = public_key
        self._private_key = private_key
        remember_secrets(public_key, private_key)
        self.base_url = base_url.rstrip("/")
        self.policy = policy or RetryPolicy()
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.session.headers["Accept"] = "application/json"
        adapter = HTTPAdapter(max_retries=self.policy.make_retry())
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"MarvelClient(base_url={self.base_url!r}, public_key='***')"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> MarvelClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def characters_url(self) -> str:
        return f"{self.base_url}/characters"

    def fetch_characters(self, offset: int, limit: int) -> Envelope:
        """One ``/characters`` page as an :class:`Envelope`, or :class:`MarvelAPIError`."""
        where = f"page at offset {offset}"
        url = self.characters_url
        body_retry = self.policy.make_retry()  # for bodies that arrive broken
        while True:
            params = {
                "limit": limit,
                "offset": offset,
                **auth_params(self.public_key, self._private_key),
            }
            try:
                response = self.session.get(
                    url,
                    params=params,
                    timeout=(self.policy.connect_timeout, self.policy.read_timeout),
                )
            except requests.exceptions.ChunkedEncodingError as exc:
                body_retry = self._again(body_retry, url, exc, offset, "the body was cut short")
                continue
            except requests.RequestException as exc:
                raise MarvelAPIError(
                    f"{where}: {_describe(exc)} (gave up after {self.policy.retries} retries) "
                    f"at {mask_secrets(url)}",
                    offset=offset,
                ) from None

            status = response.status_code
            if status == 401:
                raise MarvelAuthError(
                    f"{where}: HTTP 401 {_error_detail(response)} - the API refused the "
                    "credentials: check MARVEL_PUBLIC_KEY and MARVEL_PRIVATE_KEY",
                    offset=offset,
                    status=status,
                )
            if status == 409:
                raise MarvelRequestError(
                    f"{where}: HTTP 409 {_error_detail(response)} - the API refused the "
                    f"request's parameters (limit={limit}, offset={offset}; limit must be "
                    f"1..{MAX_PAGE_SIZE})",
                    offset=offset,
                    status=status,
                )
            if status != 200:
                retried = " after retries" if status in RETRY_STATUSES else ""
                raise MarvelAPIError(
                    f"{where}: HTTP {status}{retried}: {_error_detail(response)}",
                    offset=offset,
                    status=status,
                )
            try:
                envelope = parse_envelope(response.json())
            # JSONDecodeError is a ValueError; RecursionError: nested too deeply.
            except (ValueError, RecursionError, InvalidEnvelope) as exc:
                body_retry = self._again(body_retry, url, exc, offset, "malformed JSON")
                continue
            return envelope

    def _again(self, retry: Retry, url: str, exc: Exception, offset: int, what: str) -> Retry:
        """Count one more attempt for a broken body; sleep the backoff, or give up."""
        where = f"page at offset {offset}"
        try:
            retry = retry.increment(method="GET", url=mask_secrets(url), error=exc)
        except MaxRetryError:
            attempts = self.policy.retries + 1
            raise MarvelAPIError(
                f"{where}: {what} after {attempts} attempts ({mask_secrets(str(exc))[:200]})",
                offset=offset,
            ) from None
        retry.sleep()
        return retry

    def pages(
        self,
        *,
        offset: int = 0,
        page_size: int = MAX_PAGE_SIZE,
        max_offset: int | None = None,
    ) -> Iterator[ParsedPage]:
        """Parsed pages from ``offset`` until ``offset >= data.total``, an empty page, or
        ``offset >= max_offset`` (the loader's ``OFFSET``)."""
        total: int | None = None
        while max_offset is None or offset < max_offset:
            envelope = self.fetch_characters(offset, page_size)
            if envelope.total is not None:
                total = envelope.total
            if envelope.count == 0 or not envelope.results:
                return
            records, skipped = parse_results(envelope.results, offset)
            yield ParsedPage(offset, records, skipped, total, f"offset {offset}")
            offset += len(envelope.results)
            if total is not None and offset >= total:
                return
