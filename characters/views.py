"""Public pages: thin class-based views over the QuerySet methods in characters/models.py.

Query budget (asserted in tests/test_views_queries.py): every page runs a fixed number of
queries, whatever the page size and however many comics a character has. django-mongodb-backend
has no prefetch_related, so the comics of a page of characters are read in one query over the
M2M through table joined to the comic's title (see comics_by_character()).
"""

import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import urlencode

from django.http import Http404, HttpResponsePermanentRedirect
from django.shortcuts import get_object_or_404
from django.templatetags.static import static
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.generic import ListView, TemplateView

from characters.models import CHARACTER_ORDERINGS, Character, Comic, IndexedPaginator
from characters.page_cache import CachedPageMixin

FEATURED_COUNT = 6
CARD_COMICS = 3  # comic titles shown on a card
CARD_IMAGE = "landscape_incredible"  # Marvel's 464x261 variant, as the original site used
DETAIL_IMAGE = "portrait_uncanny"  # 300x450
PLACEHOLDER_IMAGE = "img/placeholder.svg"
DEFAULT_SORT = "name"
SORT_LABELS = {
    "name": "Name (A–Z)",
    "-name": "Name (Z–A)",
    "modified": "Least recently modified",
    "-modified": "Most recently modified",
    "comics": "Fewest comics",
    "-comics": "Most comics",
}
assert set(SORT_LABELS) == set(CHARACTER_ORDERINGS)  # noqa: S101 - keep the two in step
NAME_MAX = Character._meta.get_field("name").max_length
TRUE_VALUES = {"1", "on", "true", "yes"}


# --- cards: the comics of many characters in one query ------------------------------------


@dataclass(frozen=True, slots=True)
class ComicLink:
    """What the pages show of a comic: plain values, no model instance per row."""

    id: int
    title: str

    def get_absolute_url(self) -> str:
        return reverse("characters:comic", args=[self.id])


def comics_by_character(character_ids) -> dict[int, list[ComicLink]]:
    """{character id: [comics by title]} for all the given characters, in a single query
    (a join over the M2M through table; values only, as a page can link hundreds)."""
    through = Character.comics.through
    rows = through.objects.filter(character_id__in=list(character_ids)).values_list(
        "character_id", "comic_id", "comic__title"
    )
    found = defaultdict(list)
    for character_id, comic_id, title in rows:
        found[character_id].append(ComicLink(comic_id, title))
    for comics in found.values():
        comics.sort(key=lambda comic: (comic.title.casefold(), comic.id))
    return found


def as_cards(characters) -> list[Character]:
    """Attach what a card shows (URL, image, first comic titles) to each character."""
    characters = list(characters)
    comics = comics_by_character(c.id for c in characters) if characters else {}
    for character in characters:
        linked = comics.get(character.id, [])
        character.card_url = character.get_absolute_url()
        character.card_image = character.image_url(CARD_IMAGE)
        character.card_comics = linked[:CARD_COMICS]
        character.card_more_comics = max(len(linked), character.comics_available) - len(
            character.card_comics
        )
    return characters


class CardsMixin:
    """What the card partial needs besides the character, computed once per page."""

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            placeholder=static(PLACEHOLDER_IMAGE),
            home_url=reverse("characters:home"),
            fragment_url=reverse("characters:featured_card"),
            **kwargs,
        )


# --- home: featured characters with a stateless per-card reload -----------------------------


def parse_ids(raw: str, limit: int = FEATURED_COUNT) -> list[int]:
    """Up to `limit` distinct Marvel ids from "1,2,3"; anything else in the string is ignored."""
    ids = []
    for part in raw.split(",")[: limit * 2]:
        part = part.strip()
        if part.isascii() and part.isdigit() and len(part) <= 18 and int(part) not in ids:
            ids.append(int(part))
        if len(ids) == limit:
            break
    return ids


def featured(ids_param: str, reload_param: str) -> tuple[list[Character], Character | None]:
    """The featured characters: the ones in `ids` in their order, with `reload` re-rolled.

    Everything needed comes from the request, so any worker or pod can answer a reload
    (the original kept the featured list in a process global). Ids that no longer exist are
    replaced too, and a fresh sample is drawn when no ids are given.
    Returns (characters, the newly drawn one when a single card was reloaded).
    """
    ids = parse_ids(ids_param)
    reload_ids = [i for i in parse_ids(reload_param, limit=1) if i in ids]
    if not ids:
        return list(Character.objects.sample(FEATURED_COUNT)), None
    found = Character.objects.in_bulk(ids)  # the reloaded one too: a fallback, same query
    slots = [None if i in reload_ids else found.get(i) for i in ids]
    missing = slots.count(None)
    new = list(Character.objects.sample(missing, exclude_ids=ids)) if missing else []
    if len(new) < missing:
        # Too few other characters to swap in: keep the reloaded one rather than lose its card.
        new += [found[i] for i in reload_ids if i in found]
    new_iter = iter(new)
    characters = [slot or next(new_iter, None) for slot in slots]
    characters = [c for c in characters if c is not None]
    drawn = new[0] if len(reload_ids) == 1 and missing == 1 and new else None
    return characters, drawn


@method_decorator(never_cache, name="dispatch")
class HomeView(CardsMixin, TemplateView):
    """6 random characters; ?ids=1,2,3,4,5,6&reload=3 re-rolls one card and keeps the rest."""

    template_name = "characters/home.html"
    extra_context = {"nav": "home"}

    def get_context_data(self, **kwargs):
        characters, drawn = featured(
            self.request.GET.get("ids", ""), self.request.GET.get("reload", "")
        )
        return super().get_context_data(
            featured=as_cards(characters),
            featured_ids=",".join(str(c.id) for c in characters),
            drawn=drawn,
            **kwargs,
        )


@method_decorator(never_cache, name="dispatch")
class FeaturedCardView(CardsMixin, TemplateView):
    """The fragment the home page's script swaps in: one re-rolled card, same parameters."""

    template_name = "includes/featured_card.html"

    def get_context_data(self, **kwargs):
        characters, drawn = featured(
            self.request.GET.get("ids", ""), self.request.GET.get("reload", "")
        )
        if drawn is None:
            raise Http404("Nothing to reload: pass ids=<the six ids>&reload=<one of them>.")
        as_cards([drawn])
        return super().get_context_data(
            character=drawn,
            featured_ids=",".join(str(c.id) for c in characters),
            **kwargs,
        )


# --- list: search, sort, filter, paginate -------------------------------------------------


def clean_text(value: str) -> str:
    """Drop control characters (NUL included) and collapse whitespace."""
    value = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in value)
    return " ".join(value.split())


@dataclass(frozen=True)
class ListParams:
    """The list page's query string, validated: anything unexpected falls back to a default."""

    q: str = ""
    sort: str = DEFAULT_SORT
    with_image: bool = False
    too_long: bool = False

    @classmethod
    def from_query(cls, query) -> "ListParams":
        q = clean_text(query.get("q", ""))
        sort = query.get("sort", "")
        return cls(
            q=q[:NAME_MAX],
            sort=sort if sort in CHARACTER_ORDERINGS else DEFAULT_SORT,
            with_image=query.get("image", "").lower() in TRUE_VALUES,
            too_long=len(q) > NAME_MAX,
        )

    def queryset(self):
        if self.too_long:  # no name is that long: nothing can match
            return Character.objects.none()
        characters = Character.objects.search(self.q)
        if self.with_image:
            characters = characters.with_image()
        return characters.ordered(self.sort)

    def query_string(self, page: int = 1) -> str:
        """The canonical query string: fixed order, defaults left out."""
        pairs = []
        if self.q:
            pairs.append(("q", self.q))
        if self.with_image:
            pairs.append(("image", "1"))
        if self.sort != DEFAULT_SORT:
            pairs.append(("sort", self.sort))
        if page > 1:
            pairs.append(("page", page))
        return urlencode(pairs)


def page_number(raw: str, num_pages: int) -> int:
    """A page number clamped to [1, num_pages]; garbage means the first page."""
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        return num_pages if raw.isascii() and raw.isdigit() else 1
    return min(max(int(raw), 1), num_pages)


class CharacterListView(CachedPageMixin, CardsMixin, ListView):
    template_name = "characters/character_list.html"
    extra_context = {"nav": "list"}
    context_object_name = "characters"
    paginate_by = 24
    paginator_class = IndexedPaginator

    def get(self, request, *args, **kwargs):
        self.params = ListParams.from_query(request.GET)
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return self.params.queryset()

    def paginate_queryset(self, queryset, page_size):
        paginator = self.get_paginator(queryset, page_size)
        page = paginator.page(page_number(self.request.GET.get("page", ""), paginator.num_pages))
        page.object_list = as_cards(page.object_list)
        return paginator, page, page.object_list, page.has_other_pages()

    @staticmethod
    def list_url(query: str) -> str:
        url = reverse("characters:list")
        return f"{url}?{query}" if query else url

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        page = context["page_obj"]
        params = self.params
        context.update(
            params=params,
            sort_choices=SORT_LABELS.items(),
            canonical_url=self.list_url(params.query_string(page.number)),
            prev_url=self.list_url(params.query_string(page.previous_page_number()))
            if page.has_previous()
            else None,
            next_url=self.list_url(params.query_string(page.next_page_number()))
            if page.has_next()
            else None,
            result_count=page.paginator.count,
        )
        return context


# --- one character, one comic ---------------------------------------------------------------


def safe_links(urls) -> list[dict]:
    """Marvel's links, keeping only well-formed http(s) ones (the field is editable JSON)."""
    links = []
    for item in urls if isinstance(urls, list) else []:
        if not isinstance(item, dict):
            continue
        url, kind = item.get("url"), item.get("type")
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            links.append({"url": url, "type": str(kind or "link")})
    return links


class CharacterDetailView(CachedPageMixin, CardsMixin, TemplateView):
    template_name = "characters/character_detail.html"

    def get(self, request, *args, **kwargs):
        self.character = get_object_or_404(Character, pk=kwargs["pk"])
        if kwargs.get("slug") != self.character.slug:
            return HttpResponsePermanentRedirect(self.character.get_absolute_url())
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        character = self.character
        comics = comics_by_character([character.id]).get(character.id, [])
        return super().get_context_data(
            character=character,
            image_url=character.image_url(DETAIL_IMAGE),
            comics=comics,
            links=safe_links(character.urls),
            **kwargs,
        )


class ComicDetailView(CachedPageMixin, CardsMixin, TemplateView):
    template_name = "characters/comic_detail.html"

    def get_context_data(self, **kwargs):
        comic = get_object_or_404(Comic, pk=kwargs["pk"])
        return super().get_context_data(comic=comic, characters=as_cards(comic.cast()), **kwargs)
