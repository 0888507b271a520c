"""A small whole-page cache for the list, character and comic pages (not the random home).

A cached page is keyed by its URL and by the catalogue's version, so an edit shows at once:
- admin edits, on any worker or pod: every add/change/delete in the admin writes a LogEntry,
  and the newest LogEntry id is part of the version (one indexed query per request);
- ORM writes in this process (signals on Character, Comic and their links) bump a counter.
Writes that do neither (the seed Job's bulk upserts in another process, manual database edits)
show within MARVELSITE_PAGE_CACHE_SECONDS (default 60; 0 turns the cache off).
The pages do not vary by user or cookie, so one copy serves everyone. The cache is the
process's default Django cache (local memory unless CACHES says otherwise).
"""

import hashlib
import itertools

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.core.cache import cache
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.http import HttpResponse

from characters.models import Character, Comic

_counter = itertools.count(1)
_generation = 0


def bump_generation(**kwargs) -> None:
    global _generation
    _generation = next(_counter)


for _model in (Character, Comic):
    post_save.connect(bump_generation, sender=_model, dispatch_uid=f"page-cache-save-{_model}")
    post_delete.connect(bump_generation, sender=_model, dispatch_uid=f"page-cache-del-{_model}")
m2m_changed.connect(bump_generation, sender=Character.comics.through, dispatch_uid="page-cache-m2m")


def cache_seconds() -> int:
    return int(getattr(settings, "PAGE_CACHE_SECONDS", 60))


def catalogue_version() -> str:
    newest_admin_change = LogEntry.objects.order_by("-pk").values_list("pk", flat=True).first()
    return f"{newest_admin_change}.{_generation}"


def page_key(request) -> str:
    digest = hashlib.sha256(request.get_full_path().encode("utf-8", "replace")).hexdigest()
    return f"page:{digest}:{catalogue_version()}"


class CachedPageMixin:
    """Serve a GET from the cache when this URL was rendered for the current catalogue."""

    def dispatch(self, request, *args, **kwargs):
        seconds = cache_seconds()
        if seconds <= 0 or request.method not in ("GET", "HEAD"):
            return super().dispatch(request, *args, **kwargs)
        key = page_key(request)
        hit = cache.get(key)
        if hit is not None:
            content, content_type = hit
            response = HttpResponse(content, content_type=content_type)
            response["X-Page-Cache"] = "hit"
            return response
        response = super().dispatch(request, *args, **kwargs)
        if response.status_code == 200 and not response.streaming:

            def store(rendered):
                cache.set(key, (rendered.content, rendered["Content-Type"]), seconds)

            if hasattr(response, "add_post_render_callback"):
                response.add_post_render_callback(store)
            else:
                store(response)
            response["X-Page-Cache"] = "miss"
        return response
