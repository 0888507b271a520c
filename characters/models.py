"""Marvel characters and the comics they appear in.

Primary keys are Marvel's own integer ids, so the same models and migrations serve SQLite and
MongoDB, and re-importing the same data finds the same rows.
"""

import random
import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import NamedTuple

from django.db import models, router
from django.db.models import Q
from django.urls import reverse
from django.utils.text import slugify

from characters import search, store
from characters.bookkeeping import CatalogueVersion as CatalogueVersion
from characters.bookkeeping import ImportLock as ImportLock
from characters.bookkeeping import ImportRun as ImportRun
from characters.bookkeeping import _new_run_id as _new_run_id  # named by a migration
from characters.bookkeeping import catalogue_version_bumped as catalogue_version_bumped
from characters.comic_links import CharacterComic as CharacterComic
from characters.model_bases import LOCAL_ID_START as LOCAL_ID_START
from characters.model_bases import DerivedFieldsModel, IndexedQuerySet, LocalIdModel
from characters.model_bases import RowChanged as RowChanged
from characters.paging import Tiers
from characters.search_index import SearchTokensField, TokenOrdered
from marvelsite.hygiene import is_web_url

IMAGE_NOT_AVAILABLE = "image_not_available"
IMAGE_EXTENSION = re.compile(r"[A-Za-z0-9]{1,8}")  # jpg, png, gif: no path or query
SAMPLE_WINDOW_FACTOR = 4
CHARACTER_ORDERINGS = {
    "name": ("sort_name", "id"),
    "-name": ("-sort_name", "-id"),
    "modified": ("modified", "id"),  # the unknown ones last: CharacterQuerySet.ordered()
    "-modified": ("-modified", "-id"),  # null is the lowest value on both backends: last
    "comics": ("comics_available", "sort_name", "id"),
    "-comics": ("-comics_available", "sort_name", "id"),
}
# Every real date is in this range: "known" is a range of the modified index, which counts
# from its keys (closed at both ends: explain's bounds then decode as Python datetimes).
KNOWN_DATES = (datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC))
# Other issues of a comic's series shown on its page.
SERIES_ISSUES_SHOWN = 24


def new_random_key() -> float:
    return random.random()  # sampling, not security


class ComicTitle(NamedTuple):
    """What a page shows of a comic: plain values, no model instance per row."""

    id: int
    title: str

    def get_absolute_url(self) -> str:
        return reverse("characters:comic", args=[self.id])


class ComicQuerySet(IndexedQuerySet):
    def by_pk_with_cast(self, pk) -> tuple["Comic | None", list["Character"]]:
        """(by_pk(pk), its cast as Comic.cast gives it): a comic page's reads, one command on
        MongoDB (the store's by_pk_linked_rows)."""
        comic, characters = store.of(self).by_pk_linked_rows(
            self, pk, CharacterComic, "comic_id", "character_id", Character
        )
        return comic, sorted(characters, key=by_name)

    def titles_by_character(self, character_ids) -> dict[int, list[ComicTitle]]:
        """{character id: its comics by title} for many characters: the links by character_id,
        then the titles by comic id, both indexed (one command on MongoDB: the store's
        pairs_through; django-mongodb-backend has no prefetch_related)."""
        found = defaultdict(list)
        for character_id, comic_id, title in store.of(self).pairs_through(
            CharacterComic, "character_id", character_ids, "comic_id", Comic, "title"
        ):
            found[character_id].append(ComicTitle(comic_id, title))
        for comics in found.values():
            comics.sort(key=by_title)
        return found


def by_title(comic: ComicTitle):
    return (comic.title.casefold(), comic.id)


def by_name(character: "Character"):
    return (character.sort_name or "", character.id)


class Comic(DerivedFieldsModel, LocalIdModel):
    EDITABLE = {"title": ("title",), "resource URI": ("resource_uri",)}
    DERIVED = {
        "title": ("series", "series_year", "issue_number", "series_key", "issue_order", "title_key")
    }

    title = models.CharField(max_length=500)
    resource_uri = models.URLField("resource URI", max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # What the title holds ("Avengers (1963) #1"), made from it (characters/search.py); None
    # when unknown.
    series = models.CharField(max_length=500, null=True, blank=True, editable=False)  # noqa: DJ001
    series_year = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    issue_number = models.CharField(  # noqa: DJ001
        max_length=20, null=True, blank=True, editable=False
    )
    # The series' folded title and year ("avengers 1963"); None without a year or an issue.
    series_key = models.CharField(  # noqa: DJ001
        max_length=200, null=True, blank=True, editable=False
    )
    issue_order = models.FloatField(null=True, blank=True, editable=False)
    # The folded title ("hulk 2008 53"): the admin's title search is a prefix of it, which
    # MongoDB serves from an index (a case-insensitive regex on the title it cannot).
    title_key = models.CharField(  # noqa: DJ001
        max_length=200, null=True, blank=True, editable=False
    )

    objects = ComicQuerySet.as_manager()

    class Meta:
        ordering = ["title", "id"]
        indexes = [
            store.lookup_index("comic"),
            models.Index(fields=["title", "id"], name="comic_title"),
            # The comics edited here, which an import reads once (characters/ingest/importer.py):
            # one range of this index, past its null keys (a comic never edited is one of them).
            models.Index(fields=["local_edits"], name="comic_local_edits"),
            models.Index(fields=["series_key", "issue_order", "id"], name="comic_series"),
            models.Index(fields=["title_key", "id"], name="comic_title_key"),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("characters:comic", args=[self.id])

    def derive(self) -> None:
        parsed = search.parse_comic_title(self.title or "")
        self.series, self.series_year = parsed.series[:500], parsed.year
        self.issue_number = parsed.issue[:20] or None
        self.series_key = search.series_key(parsed)
        self.issue_order = search.issue_sort_number(parsed.issue)
        self.title_key = search.sort_key(self.title or "")

    def same_series(self, limit: int = SERIES_ISSUES_SHOWN) -> list["Comic"]:
        """Other issues of this comic's series in the catalogue, by issue number: one range
        of the series index, at most `limit`."""
        if not self.series_key:
            return []
        rows = type(self).objects.using(self._state.db or router.db_for_read(Comic))
        rows = rows.filter(series_key=self.series_key).exclude(id=self.id)
        return rows.order_by("series_key", "issue_order", "id").window(0, limit)

    def cast(self) -> list["Character"]:
        """The characters in this comic, by name: read through the links' comic_id index,
        then the characters' keys (the store's linked_rows: one command on MongoDB), sorted
        here. (Not self.characters, which MongoDB answers by joining every character to the
        links; a select_related join from the links runs a $lookup per link there.)"""
        using = self._state.db or router.db_for_read(Character)
        characters = store.for_alias(using).linked_rows(
            CharacterComic, "comic_id", self.pk, "character_id", Character
        )
        return sorted(characters, key=by_name)


class CharacterQuerySet(IndexedQuerySet):
    def search(self, text: str):
        """Characters whose name a search finds (characters/search.py): the name starts with
        it, or each of its words starts a word of the name; case, accents and punctuation
        ignored. Empty text: all of them; text with no letter or digit: none."""
        if not text.strip():
            return self
        return self.filter(self.name_matches(text))

    def name_matches(self, text: str) -> Q:
        """The filter of search(text) (nothing matches text with no letter or digit)."""
        query = search.Query.parse(text)
        if not query:
            return Q(pk__in=[])
        return self._name_prefix(query) | self._word_prefixes(query)

    def ranked_search(self, text: str) -> Tiers:
        """search(text) in its ranks, each by name: the exact name, names starting with it,
        then the rest (every word a word prefix). Each rank is one token's index range; an
        exact name is a name prefix too, so the second rank is counted as a difference."""
        query = search.Query.parse(text)
        if not query:
            return Tiers([("none", self.none())])
        exact = Q(name_tokens__has_token=query.exact)
        prefix = self._name_prefix(query)
        exact_rows, prefix_rows = self.filter(exact), self.filter(prefix)
        words = self.filter(self._word_prefixes(query)).exclude(prefix).ordered("name")
        longest = max(query.terms, key=len)  # the fewest names, likely: the rows read first
        return Tiers(
            [
                ("exact", TokenOrdered(exact_rows.ordered("name"), query.exact)),
                (
                    "name prefix, not exact",
                    TokenOrdered(prefix_rows.exclude(exact).ordered("name"), query.name_prefix),
                    lambda count: count(prefix_rows, "name prefix") - count(exact_rows, "exact"),
                ),
                ("word prefixes only", TokenOrdered(words, longest)),
            ]
        )

    @staticmethod
    def _name_prefix(query) -> Q:
        return Q(name_tokens__has_token=query.name_prefix)

    @staticmethod
    def _word_prefixes(query) -> Q:
        return Q(*(Q(name_tokens__has_token=term) for term in query.terms))

    def with_image(self):
        return self.exclude(thumbnail_path="").exclude(thumbnail_path__contains=IMAGE_NOT_AVAILABLE)

    def without_image(self):
        return self.filter(Q(thumbnail_path="") | Q(thumbnail_path__contains=IMAGE_NOT_AVAILABLE))

    def ordered(self, sort: str):
        if sort not in CHARACTER_ORDERINGS:
            raise ValueError(f"unknown sort {sort!r}; expected one of {list(CHARACTER_ORDERINGS)}")
        return self.order_by(*CHARACTER_ORDERINGS[sort])

    def tiers(self, sort: str) -> Tiers:
        """self.ordered(sort) as Tiers: for the oldest first, the characters with an unknown
        date come after the others (null sorts lowest on both backends), both parts read in
        the same index and counted from its keys (all, minus the known ones)."""
        if sort != "modified":
            return Tiers([("all", self.ordered(sort))])
        known = self.filter(modified__range=KNOWN_DATES)
        unknown = self.filter(modified__isnull=True).ordered(sort)
        return Tiers(
            [
                ("known", known.ordered(sort)),
                ("unknown", unknown, lambda count: count(self, "all") - count(known, "known")),
            ]
        )

    def sample(self, count: int, exclude_ids=()):
        """`count` random characters (fewer if there are not enough), drawn from a window of
        random_key's index read from a random point, wrapping around at the end (the store's
        sample: one or two queries, one command on MongoDB), instead of ORDER BY random(),
        which MongoDB lacks and which scans the whole table. The window is a few times larger
        than `count` so neighbours in key order vary.
        """
        rows = self.exclude(id__in=list(exclude_ids)).order_by("random_key")
        point = new_random_key()
        after, before = rows.filter(random_key__gte=point), rows.filter(random_key__lt=point)
        return store.of(self).sample(after, before, count * SAMPLE_WINDOW_FACTOR, count)

    def by_pk_with_comics(self, pk) -> tuple["Character | None", list[ComicTitle]]:
        """(by_pk(pk), its comics by title, as titles_by_character gives them): a character
        page's reads, one command on MongoDB (the store's by_pk_through)."""
        character, pairs = store.of(self).by_pk_through(
            self, pk, CharacterComic, "character_id", "comic_id", Comic, "title"
        )
        return character, sorted((ComicTitle(*pair) for pair in pairs), key=by_title)

    def featured(self, count: int, shown_ids=(), reload_ids=()):
        """The featured characters: the ones in `shown_ids` in their order, `reload_ids` re-rolled.

        Everything needed comes from the request, so any worker or pod can answer a reload
        (the original kept the featured list in a process global). Ids that no longer exist
        are replaced too, and a fresh sample is drawn when none are given.
        Returns (characters, the newly drawn one when a single card was reloaded).
        """
        if not shown_ids:
            return list(self.sample(count)), None
        found = self.in_bulk(shown_ids)  # the reloaded one too: a fallback, same query
        slots = [None if i in reload_ids else found.get(i) for i in shown_ids]
        missing = slots.count(None)
        new = list(self.sample(missing, exclude_ids=shown_ids)) if missing else []
        if len(new) < missing:
            # Too few other characters to swap in: keep the reloaded one rather than lose it.
            new += [found[i] for i in reload_ids if i in found]
        new_iter = iter(new)
        characters = [slot or next(new_iter, None) for slot in slots]
        drawn = new[0] if len(reload_ids) == 1 and missing == 1 and new else None
        return [c for c in characters if c is not None], drawn


class Character(DerivedFieldsModel, LocalIdModel):
    DERIVED = {"name": ("sort_name", "name_tokens")}
    EDITABLE = {
        "name": ("name",),
        "description": ("description",),
        "image": ("thumbnail_path", "thumbnail_extension", "image_upload"),
        "links": ("urls",),
        "comics": ("comics",),
    }

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Marvel's image parts: URL = f"{path}/{variant}.{extension}" (variants: portrait_xlarge, ...)
    thumbnail_path = models.URLField(max_length=300, blank=True)
    thumbnail_extension = models.CharField(max_length=10, blank=True)
    # An editor's upload (characters/images.py): the sha256 its files are stored under; shown
    # instead of Marvel's image. Part of the "image" group: imports keep it, a reset removes it.
    image_upload = models.CharField(  # noqa: DJ001
        "uploaded image", max_length=64, null=True, blank=True, editable=False
    )
    modified = models.DateTimeField(
        "modified at Marvel", null=True, blank=True, help_text="Marvel's own last-modified time."
    )
    resource_uri = models.URLField("resource URI", max_length=300, blank=True)
    comics_available = models.PositiveIntegerField(
        default=0, help_text="Comics Marvel counts for this character; its API lists at most 20."
    )
    urls = models.JSONField(
        "links", default=list, blank=True, help_text='Marvel\'s links: [{"type": ..., "url": ...}]'
    )
    # A uniform random number per row, indexed, for cheap random sampling.
    random_key = models.FloatField(default=new_random_key, db_index=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    comics = models.ManyToManyField(
        Comic, related_name="characters", blank=True, through="CharacterComic"
    )
    # A digest of the Marvel record this character was last imported from (its fields, comic
    # ids and titles: importer.record_digest): an import skips a character whose record has
    # the same digest and nothing edited here. None: not imported since the field came.
    marvel_digest = models.CharField(  # noqa: DJ001
        max_length=32, null=True, blank=True, editable=False
    )
    # Made from the name (characters/search.py): the key names are listed by, and the tokens
    # a search looks up (their index: characters/search_index.py).
    sort_name = models.CharField(  # noqa: DJ001
        "sort key", max_length=200, null=True, blank=True, editable=False
    )
    name_tokens = SearchTokensField(null=True, blank=True, editable=False)

    objects = CharacterQuerySet.as_manager()

    class Meta:
        ordering = ["sort_name", "id"]
        # One index per CHARACTER_ORDERINGS entry (read backwards for the reversed ones), so a
        # list page reads its rows in index order instead of sorting the whole collection.
        indexes = [
            store.lookup_index("character"),
            models.Index(fields=["sort_name", "id"], name="character_sort_name"),
            models.Index(fields=["modified", "id"], name="character_modified"),
            models.Index(
                fields=["comics_available", "sort_name", "id"], name="character_comics_sort"
            ),
            models.Index(
                fields=["-comics_available", "sort_name", "id"], name="character_comics_sort_desc"
            ),
            # The image filter's count reads this index's keys, never the documents.
            models.Index(fields=["thumbnail_path"], name="character_thumbnail"),
            # The admin's "edited here" filter: one range past the null keys (never edited).
            models.Index(fields=["local_edits"], name="character_local_edits"),
            # The admin's "uploaded here" filter and the upload sweep's references.
            models.Index(fields=["image_upload"], name="character_image_upload"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("characters:detail", args=[self.id, self.slug])

    def derive(self) -> None:
        self.sort_name = search.sort_key(self.name or "")
        self.name_tokens = search.name_tokens(self.name or "")

    @property
    def slug(self) -> str:
        return slugify(self.name) or "character"

    @property
    def has_image(self) -> bool:
        return bool(self.thumbnail_path) and IMAGE_NOT_AVAILABLE not in self.thumbnail_path

    def safe_links(self) -> list[dict]:
        """Marvel's links, keeping only well-formed http(s) ones (the field is editable JSON)."""
        links = []
        for item in self.urls if isinstance(self.urls, list) else []:
            if not isinstance(item, dict):
                continue
            url, kind = item.get("url"), item.get("type")
            if is_web_url(url):
                links.append({"url": url, "type": str(kind or "link")})
        return links

    def comic_ids(self) -> list[int]:
        """Ids of the comics linked to this character, read through the links' index."""
        links = CharacterComic.objects.using(self._state.db)
        return links.comic_ids_by_character([self.pk]).get(self.pk, [])

    def set_comic_ids(self, comic_ids) -> None:
        """Link exactly these comics (LinkQuerySet.replace)."""
        CharacterComic.objects.using(self._state.db).replace(self, comic_ids)

    def upload_url(self, variant: str) -> str:
        """The URL of the editor's upload in this size ("card", "detail", "original"), or ""."""
        if not self.image_upload:
            return ""
        return reverse("characters:image", args=[self.image_upload, variant])

    def image_url(self, variant: str = "portrait_xlarge") -> str:
        """Marvel's CDN URL for this image size, or "" when there is no image."""
        if not self.has_image or not IMAGE_EXTENSION.fullmatch(self.thumbnail_extension or ""):
            return ""
        path = self.thumbnail_path.replace("http://", "https://", 1)
        url = f"{path}/{variant}.{self.thumbnail_extension}"
        return url if is_web_url(url) else ""


class DeletedCharacter(models.Model):
    """A Marvel character deleted in the admin: imports do not re-create it (a tombstone).

    Removing the tombstone (the admin's "Let imports re-create them", or
    `seed_marvel --overwrite-local-edits`) lets the next import bring the character back.
    """

    id = models.PositiveBigIntegerField("Marvel id", primary_key=True)
    name = models.CharField(max_length=200)
    deleted_at = models.DateTimeField(auto_now_add=True)

    objects = IndexedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "deleted Marvel character"
        indexes = [
            store.lookup_index("deleted_character"),
            models.Index(fields=["name", "id"], name="deleted_character_name"),
        ]

    def __str__(self):
        return self.name
