"""Public pages: thin class-based views over the forms (query strings), the QuerySet methods
(characters/models.py) and the card presenter (characters/cards.py).

Query budget (asserted in tests/site/test_views_queries.py): every page runs a fixed number of
queries, whatever the page size and however many comics a character has.
"""

from functools import cached_property, lru_cache

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseNotModified,
    HttpResponsePermanentRedirect,
    QueryDict,
)
from django.templatetags.static import static
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import DetailView, ListView, TemplateView

from characters import images
from characters.cards import cards
from characters.forms import FEATURED_COUNT, SORT_LABELS, CharacterFilterForm, FeaturedForm
from characters.models import SERIES_ISSUES_SHOWN, Character, Comic
from characters.page_cache import (
    CachedPageMixin,
    CatalogueVersionMixin,
    count_seconds,
    kept_count,
)
from characters.paging import IndexedPaginator

DETAIL_IMAGE = "portrait_uncanny"  # 300x450
PLACEHOLDER_IMAGE = "img/placeholder.svg"


class CardsMixin(CatalogueVersionMixin):
    """What the card partial needs besides the card, computed once per page, and the version
    and time what a card shows is kept for (includes/card_grid.html, characters/cards.py)."""

    def card_version(self) -> str | None:
        """The version cards are kept for, None when they are not kept. Read before the rows
        the cards show, so a card is never kept under a version newer than what it shows."""
        return self.catalogue_version() if count_seconds() else None

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            catalogue_version=self.catalogue_version,  # read only if a card asks
            card_seconds=count_seconds(),
            placeholder=static(PLACEHOLDER_IMAGE),
            home_url=reverse("characters:home"),
            fragment_url=reverse("characters:featured_card"),
            **kwargs,
        )


# --- home: featured characters with a stateless per-card reload -----------------------------


class FeaturedMixin(CardsMixin):
    def featured(self):
        """(characters, the one drawn for a single reloaded card) from ?ids=&reload=."""
        form = FeaturedForm(self.request.GET)
        self.card_version()  # before the rows: the cards are kept under it
        return Character.objects.featured(FEATURED_COUNT, form.shown_ids, form.reload_ids)


@method_decorator(never_cache, name="dispatch")
class HomeView(FeaturedMixin, TemplateView):
    """6 random characters; ?ids=1,2,3,4,5,6&reload=3 re-rolls one card and keeps the rest."""

    template_name = "characters/home.html"
    extra_context = {"nav": "home"}

    def get_context_data(self, **kwargs):
        characters, drawn = self.featured()
        return super().get_context_data(
            cards=cards(characters, self.card_version(), as_html=False),
            featured_ids=",".join(str(c.id) for c in characters),
            drawn=drawn,
            **kwargs,
        )


@method_decorator(never_cache, name="dispatch")
class FeaturedCardView(FeaturedMixin, TemplateView):
    """The fragment the home page's script swaps in: one re-rolled card, same parameters."""

    template_name = "includes/featured_card.html"

    def get_context_data(self, **kwargs):
        characters, drawn = self.featured()
        if drawn is None:
            raise Http404("Nothing to reload: pass ids=<the six ids>&reload=<one of them>.")
        return super().get_context_data(
            card=cards([drawn], self.card_version(), as_html=False)[0],
            featured_ids=",".join(str(c.id) for c in characters),
            **kwargs,
        )


# --- list: search, sort, filter, paginate -------------------------------------------------


@lru_cache(maxsize=1024)
def canonical_list_query(raw: str) -> str:
    """The list's canonical query string for a raw one, kept per process: a cached hit then
    builds no form (each deep-copies its fields)."""
    return CharacterFilterForm(QueryDict(raw)).query_string()


class CharacterListView(CachedPageMixin, CardsMixin, ListView):
    template_name = "characters/character_list.html"
    extra_context = {"nav": "list", "sort_choices": SORT_LABELS.items()}
    context_object_name = "cards"
    paginate_by = 24
    paginator_class = IndexedPaginator

    @cached_property
    def filters(self) -> CharacterFilterForm:
        return CharacterFilterForm(self.request.GET)

    @classmethod
    def canonical_query(cls, request) -> str:
        return canonical_list_query(request.META.get("QUERY_STRING", ""))

    def get_queryset(self):
        return self.filters.characters().counted_with(self.tier_count)

    def tier_count(self, rows, tier: str) -> int:
        """A tier's count, kept under the filter's canonical text and the tier's name."""
        key = f"list?{self.filters.count_key()}#{tier}"
        return kept_count(rows, key=key, version=self.catalogue_version)

    def paginate_queryset(self, queryset, page_size):
        paginator = self.get_paginator(queryset, page_size, count=queryset.count())
        page = paginator.get_page(self.filters.page_number)
        page.object_list = cards(page.object_list, self.card_version())
        return paginator, page, page.object_list, page.has_other_pages()

    def list_url(self, page: int) -> str:
        query = self.filters.query_string(page)
        return f"{reverse('characters:list')}?{query}" if query else reverse("characters:list")

    def page_links(self, page) -> list[dict]:
        """Numbered links around the page and at both ends, gaps elided ("1 … 4 5 6 7 8 … 65")."""
        numbers = page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1)
        return [
            {"number": n, "url": self.list_url(n), "current": n == page.number}
            if isinstance(n, int)
            else {"gap": n}
            for n in numbers
        ]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(filters=self.filters, **kwargs)
        page = context["page_obj"]
        last = page.paginator.num_pages
        return {
            **context,
            "canonical_url": self.list_url(page.number),
            "prev_url": self.list_url(page.previous_page_number()) if page.has_previous() else None,
            "next_url": self.list_url(page.next_page_number()) if page.has_next() else None,
            "first_url": self.list_url(1) if page.number > 1 else None,
            "last_url": self.list_url(last) if page.number < last else None,
            "page_links": self.page_links(page),
            "listed_rows": last * page.paginator.per_page,
        }


# --- one character, one comic ---------------------------------------------------------------


class ByPkMixin:
    """DetailView's object read by its primary key alone (IndexedQuerySet.by_pk)."""

    def get_object(self, queryset=None):
        rows = self.get_queryset() if queryset is None else queryset
        found = self.read_object(rows, self.kwargs[self.pk_url_kwarg])
        if found is None:
            raise Http404(f"No {rows.model._meta.verbose_name} with that id.")
        return found

    def read_object(self, rows, pk):
        return rows.by_pk(pk)


class CharacterDetailView(CachedPageMixin, CardsMixin, ByPkMixin, DetailView):
    model = Character

    def read_object(self, rows, pk):
        # The comics come with the row (one command on MongoDB), even for a redirect from an
        # old slug: those are rare.
        found, self.comics = rows.by_pk_with_comics(pk)
        return found

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        if kwargs.get("slug") != self.object.slug:
            return HttpResponsePermanentRedirect(self.object.get_absolute_url())
        return self.render_to_response(self.get_context_data(object=self.object))

    def get_context_data(self, **kwargs):
        character = self.object
        return super().get_context_data(
            image_url=character.upload_url("detail") or character.image_url(DETAIL_IMAGE),
            comics=self.comics,
            links=character.safe_links(),
            **kwargs,
        )


class ComicDetailView(CachedPageMixin, CardsMixin, ByPkMixin, DetailView):
    model = Comic

    def read_object(self, rows, pk):
        self.card_version()  # read (and kept) before the cast: its cards are kept under it
        found, self.cast = rows.by_pk_with_cast(pk)  # one command on MongoDB
        return found

    def get_context_data(self, **kwargs):
        issues = self.object.same_series(SERIES_ISSUES_SHOWN + 1)  # one more: "and more"
        return super().get_context_data(
            cards=cards(self.cast, self.card_version()),
            series_issues=issues[:SERIES_ISSUES_SHOWN],
            more_issues=len(issues) > SERIES_ISSUES_SHOWN,
            **kwargs,
        )


# --- editors' uploaded images ---------------------------------------------------------------


class ImageView(View):
    """An uploaded image by its sha256 and size. The URL names the content, so a client's copy
    is never stale: kept for a year, and a revalidation is answered without reading anything."""

    def get(self, request, sha256, variant):
        etag = f'"{sha256}-{variant}"'
        headers = {
            "ETag": etag,
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
            "Accept-Ranges": "bytes",
        }
        asked = images.etags(request.headers.get("If-None-Match", ""))
        if etag in asked or "*" in asked:
            return HttpResponseNotModified(headers=headers)
        try:
            file = default_storage.open(images.stored_name(sha256, variant))
        except FileNotFoundError:
            raise Http404("No such image.") from None
        head = file.read(16)
        file.seek(0)
        headers["Content-Type"] = images.content_type_of(file, head)
        wanted = request.headers.get("Range")
        partial = images.range_applies(wanted, request.headers.get("If-Range"), etag)
        if not partial and not isinstance(file, ContentFile):
            # A file on disk: sent by the server (sendfile), the type ours not a guess.
            content_type = headers.pop("Content-Type")
            return FileResponse(file, content_type=content_type, headers=headers)
        with file:
            data = file.read()
        if not partial:
            return HttpResponse(data, headers=headers)
        span = images.byte_range(wanted, len(data))
        if span is None:
            headers["Content-Range"] = f"bytes */{len(data)}"
            return HttpResponse(status=416, headers=headers)
        start, end = span
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return HttpResponse(data[start : end + 1], status=206, headers=headers)
