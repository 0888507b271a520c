"""The list, character and comic pages (not the random home): a whole-page cache and HTTP caching;
and the lists' counts (the public list's, the admin's), kept the same way.

All hang on the catalogue version (CatalogueVersion), kept in memory by each process
(characters/catalogue_version.py: a cached hit asks the database nothing). It changes on
every ORM write to characters, comics or their links, in any process (the signals below: the
admin's edits show on every worker and pod within a second), and on every import page that
writes.
- Page cache: a rendered page is kept per canonical URL and version in the process's default
  Django cache, for MARVELSITE_PAGE_CACHE_SECONDS (default 60; 0 turns caching off).
- HTTP: the pages carry `Cache-Control: public, max-age=<same seconds>` and an ETag derived from
  the version and the canonical URL; a conditional GET with the current ETag gets a 304
  without a query (Django's conditional response handling).
- Counts: a list's count is kept per filter (the caller's canonical key for it) and version
  in the same cache, for MARVELSITE_COUNT_CACHE_SECONDS (default 60; 0 counts on every
  request), whatever the page cache does: on MongoDB a count reads one index key per row
  counted, and every page, sort and process-local rendering
  of a filter shares it.
The canonical URL ignores unknown query parameters, so `?utm_source=x` reuses the cached page.
The pages do not vary by user or cookie, so one copy serves everyone.
"""

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.http import HttpResponse
from django.urls import Resolver404, resolve
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import quote_etag

from characters import catalogue_version
from characters.models import (
    CatalogueVersion,
    Character,
    CharacterComic,
    Comic,
    catalogue_version_bumped,
)
from marvelsite.breaker import breaker_for
from marvelsite.db_errors import DATABASE_ERRORS
from marvelsite.routing import alias_for, reading_from


def read_catalogue_version() -> str:
    """The catalogue's version token ("" before the first write): kept in memory per process
    and asked of the database only when it may have changed (characters/catalogue_version.py)."""
    return catalogue_version.current()


def bump_catalogue_version(**kwargs) -> None:
    CatalogueVersion.bump()


def bump_after_link_change(action: str, **kwargs) -> None:
    if action.startswith("post_"):
        CatalogueVersion.bump()


def connect_signals() -> None:
    """Called once from CharactersConfig.ready()."""
    for model in (Character, Comic):
        post_save.connect(bump_catalogue_version, sender=model, dispatch_uid=f"version-{model}")
        post_delete.connect(bump_catalogue_version, sender=model, dispatch_uid=f"version-d{model}")
    m2m_changed.connect(bump_after_link_change, sender=CharacterComic, dispatch_uid="version-links")
    catalogue_version_bumped.connect(catalogue_version.forget, dispatch_uid="version-forget")


def cache_seconds() -> int:
    return int(getattr(settings, "PAGE_CACHE_SECONDS", 60))


def count_seconds() -> int:
    return int(getattr(settings, "COUNT_CACHE_SECONDS", 60))


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


@functools.cache
def release() -> str:
    """What renders the pages, as a digest: the templates, the app's code and the hashed static
    files' manifest. Part of every ETag, so a deploy that changes how pages look is not answered
    with a 304 for the old page (and its old, gone, stylesheet) until the catalogue changes."""
    root = Path(settings.BASE_DIR)
    code = (root / "characters").rglob("*.py")  # the store's and the ingest's too
    sources = sorted((root / "templates").rglob("*.html")) + sorted(
        path for path in code if "migrations" not in path.parts
    )
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    hashed = hashlib.sha256()
    for path in [*sources, *([manifest] if manifest.is_file() else [])]:
        name = str(path.relative_to(root)) if path.is_relative_to(root) else path.name
        hashed.update(name.encode() + b"\0" + path.read_bytes())
    return hashed.hexdigest()[:16]


def kept_count(
    rows, key: str | None = None, version: Callable[[], str] = read_catalogue_version
) -> int:
    """`rows.count()`, kept per catalogue version under the caller's `key`: counted once per
    version and process, then read from the cache (count_seconds()).

    `key` names the rows in the caller's canonical terms (the list's filter and tier, the
    changelist's query string): one key for the same rows, never one for different ones.
    Without a key the rows are counted at once, never kept; so they are with no version row
    yet (nothing was ever bumped: a conservative choice). `version` reads the version when a
    count may be kept (a view passes the one it already read), before counting, so a count is
    never older than the version it is kept under.
    """
    seconds = count_seconds()
    token = version() if key is not None and seconds > 0 else ""
    if not token:
        return rows.count()
    kept = f"count:{rows.db}:{rows.model._meta.label}:{digest(key)}:{token}"
    count = cache.get(kept)
    if count is None:
        count = rows.count()
        cache.set(kept, count, seconds)
    return count


@dataclass(frozen=True)
class PageKeys:
    """A page's ETag and cache key, for one catalogue version: both of its canonical URL
    (the path and the view's canonical query string)."""

    etag: str
    key: str

    @classmethod
    def of(cls, view_class, request, version: str) -> "PageKeys":
        url = f"{request.path}?{view_class.canonical_query(request)}"
        etag = quote_etag(digest(f"{release()}:{version}:{url}"))
        return cls(etag=etag, key=f"page:{digest(url)}:{version}")


def kept_response(keys: PageKeys, request, seconds: int) -> HttpResponse | None:
    """The answer to a GET of a cached page, rendering nothing: 304 when the client's copy is
    current, else the page kept for this version; None when it must be rendered."""
    response = get_conditional_response(request, etag=keys.etag)
    if response is None:  # the client's copy, if any, is not current
        hit = cache.get(keys.key)
        if hit is None:
            return None
        content, content_type = hit
        response = HttpResponse(content, content_type=content_type)
        response["X-Page-Cache"] = "hit"
    return CachedPageMixin.tag(response, keys.etag, seconds)


class CatalogueVersionMixin:
    """A view's catalogue version, read once per request (by PageCacheMiddleware, if it looked
    the page up): the page cache, the list's kept counts and the kept cards share it."""

    _catalogue_version: str | None = None

    def catalogue_version(self) -> str:
        if self._catalogue_version is None:
            read = getattr(self.request, "catalogue_version", None)
            self._catalogue_version = read if read is not None else read_catalogue_version()
        return self._catalogue_version


class CachedPageMixin(CatalogueVersionMixin):
    """Serve a GET from the cache when its canonical URL was rendered for the current catalogue,
    tag it for HTTP caches, and answer a conditional GET for the current version with 304.
    (PageCacheMiddleware gives the same answers before the rest of the stack; where it looked
    the page up and missed, this only renders and keeps it.)"""

    @classmethod
    def canonical_query(cls, request) -> str:
        """The query string that selects this page; the list page overrides it."""
        return ""

    def dispatch(self, request, *args, **kwargs):
        seconds = cache_seconds()
        if seconds <= 0 or request.method not in ("GET", "HEAD"):
            return super().dispatch(request, *args, **kwargs)
        keys = getattr(request, "page_keys", None)  # PageCacheMiddleware looked it up
        if keys is None:
            keys = PageKeys.of(type(self), request, self.catalogue_version())
            kept = kept_response(keys, request, seconds)
            if kept is not None:
                return kept
        response = super().dispatch(request, *args, **kwargs)
        if response.status_code == 200 and not response.streaming:

            def store(rendered):
                cache.set(keys.key, (rendered.content, rendered["Content-Type"]), seconds)

            if hasattr(response, "add_post_render_callback"):
                response.add_post_render_callback(store)
            else:
                store(response)
            response["X-Page-Cache"] = "miss"
            self.tag(response, keys.etag, seconds)
        return response

    @staticmethod
    def tag(response, etag: str, seconds: int):
        response["ETag"] = etag
        patch_cache_control(response, public=True, max_age=seconds)
        return response


class PageCacheMiddleware:
    """Answers a GET of a kept page (or a 304 for it) before the sessions, CSRF, auth and the
    URL's view: the pages do not vary by user or cookie, and on a hit that stack cost more
    than the rest of the response. Outside it (settings.MIDDLEWARE) only what every response
    gets: the security headers, X-Frame-Options and the control-character cleaning. Anything
    else, a miss included, goes on to the view, which renders and keeps it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.kept(request)
        return self.get_response(request) if response is None else response

    @staticmethod
    def kept(request) -> HttpResponse | None:
        seconds = cache_seconds()
        if seconds <= 0 or request.method not in ("GET", "HEAD"):
            return None
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return None
        view_class = getattr(match.func, "view_class", None)
        if view_class is None or not issubclass(view_class, CachedPageMixin):
            return None
        alias = alias_for(request)
        if breaker_for(alias).refusal():
            return None  # the stack answers, as for any page while the breaker is open
        try:
            with reading_from(alias):  # as the view would read it
                version = read_catalogue_version()
        except DATABASE_ERRORS:
            return None  # the view reads it again, where the stack answers the failure
        request.resolver_match = match  # what the metrics name the request by
        request.catalogue_version = version  # a miss's view renders for it
        request.page_keys = PageKeys.of(view_class, request, version)  # and keeps it under
        response = kept_response(request.page_keys, request, seconds)
        if response is not None:
            response["Content-Length"] = str(len(response.content))  # as CommonMiddleware
        return response
