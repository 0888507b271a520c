"""The list, character and comic pages (not the random home): a whole-page cache and HTTP caching.

Both hang on the catalogue version (CatalogueVersion), one indexed read per request. It changes
on every ORM write to characters, comics or their links, in any process (the signals below:
the admin's edits show at once on every worker and pod), and on every import page that writes.
- Page cache: a rendered page is kept per canonical URL and version in the process's default
  Django cache, for MARVELSITE_PAGE_CACHE_SECONDS (default 60; 0 turns caching off).
- HTTP: the pages carry `Cache-Control: public, max-age=<same seconds>` and an ETag derived from
  the version and the canonical URL; a conditional GET with the current ETag gets a 304 at the
  cost of that one read (Django's conditional response handling).
The canonical URL ignores unknown query parameters, so `?utm_source=x` reuses the cached page.
The pages do not vary by user or cookie, so one copy serves everyone.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.http import HttpResponse
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import quote_etag

from characters.models import CatalogueVersion, Character, Comic


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
    m2m_changed.connect(
        bump_after_link_change, sender=Character.comics.through, dispatch_uid="version-links"
    )


def cache_seconds() -> int:
    return int(getattr(settings, "PAGE_CACHE_SECONDS", 60))


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


class CachedPageMixin:
    """Serve a GET from the cache when its canonical URL was rendered for the current catalogue,
    tag it for HTTP caches, and answer a conditional GET for the current version with 304."""

    def canonical_query(self) -> str:
        """The query string that selects this page; the list page overrides it."""
        return ""

    def dispatch(self, request, *args, **kwargs):
        seconds = cache_seconds()
        if seconds <= 0 or request.method not in ("GET", "HEAD"):
            return super().dispatch(request, *args, **kwargs)
        version = CatalogueVersion.current()
        url = f"{request.path}?{self.canonical_query()}"
        etag = quote_etag(digest(f"{version}:{url}"))
        response = get_conditional_response(request, etag=etag)
        if response is not None:  # the client's copy is current
            return self.tag(response, etag, seconds)
        key = f"page:{digest(url)}:{version}"
        hit = cache.get(key)
        if hit is not None:
            content, content_type = hit
            response = HttpResponse(content, content_type=content_type)
            response["X-Page-Cache"] = "hit"
            return self.tag(response, etag, seconds)
        response = super().dispatch(request, *args, **kwargs)
        if response.status_code == 200 and not response.streaming:

            def store(rendered):
                cache.set(key, (rendered.content, rendered["Content-Type"]), seconds)

            if hasattr(response, "add_post_render_callback"):
                response.add_post_render_callback(store)
            else:
                store(response)
            response["X-Page-Cache"] = "miss"
            self.tag(response, etag, seconds)
        return response

    @staticmethod
    def tag(response, etag: str, seconds: int):
        response["ETag"] = etag
        patch_cache_control(response, public=True, max_age=seconds)
        return response
