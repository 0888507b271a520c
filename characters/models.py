"""Marvel characters and the comics they appear in.

Primary keys are Marvel's own integer ids, so the same models and migrations serve SQLite and
MongoDB, and re-importing the same data finds the same rows.
"""

import contextlib
import random
import re
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple

from django.core.exceptions import EmptyResultSet
from django.core.paginator import Page, Paginator
from django.db import IntegrityError, connections, models, router, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.text import slugify
from django_mongodb_backend.query import wrap_database_errors
from django_mongodb_backend.queryset import RawQuerySet

from characters import search
from characters.search_index import SearchTokensField, TokenOrdered
from marvelsite.hygiene import is_web_url
from marvelsite.transactions import in_mongodb_transaction

# Ids from here up are made by this site (the admin); Marvel's ids are far below.
LOCAL_ID_START = 1_000_000_000
# Concurrent adds that lose the race for an id try the next one, this many times in all.
LOCAL_ID_ATTEMPTS = 20
IMAGE_NOT_AVAILABLE = "image_not_available"
IMAGE_EXTENSION = re.compile(r"[A-Za-z0-9]{1,8}")  # jpg, png, gif: no path or query
SAMPLE_WINDOW_FACTOR = 4
# Pages a list serves (IndexedPaginator): 2,400 characters at 24 a page, 5,000 in the admin.
MAX_PAGES = 100
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


def lookup_index(table: str) -> models.Index:
    """A plain index on the primary key, for MongoDB's planner.

    django-mongodb-backend 5.2.4 creates the primary key's unique index as a *partial* index
    ({id: {$type: "long"}}), which an equality match or a $lookup on `id` cannot use: without
    this one every primary-key lookup and every join to this collection is a COLLSCAN
    (fixed upstream in mongodb/django-mongodb-backend PR #543, not released for Django 5.2).
    On SQLite it duplicates the primary key's own index, a small cost for one migrations set.
    """
    return models.Index(fields=["id"], name=f"{table}_id_lookup")


class LocalIdTaken(IntegrityError):
    """Every local id tried was taken by concurrent adds (LOCAL_ID_ATTEMPTS of them)."""


class RowChanged(Exception):
    """A conditional write found the row at another version (or gone): someone else wrote it
    since it was read. Read it again and decide again."""


class LocalIdModel(models.Model):
    """A model keyed by Marvel's id that numbers rows added here after LOCAL_ID_START, and
    remembers which of Marvel's fields were edited here (characters/ownership.py)."""

    # What an editor may change, in groups owned as one ("image": path, extension, upload):
    # group name -> model fields. A group edited here keeps its local value on imports.
    EDITABLE: dict[str, tuple[str, ...]] = {}

    id = models.PositiveBigIntegerField(primary_key=True, editable=False)
    # None when nothing is edited here, not {}: django-mongodb-backend 5.2.4 adds a field to
    # existing documents with an unquoted pipeline $set, which refuses an empty object.
    local_edits = models.JSONField(
        "edited here",
        null=True,
        blank=True,
        editable=False,
        help_text="The field groups edited here, each with Marvel's latest value of it: "
        "imports keep the local value.",
    )
    # Raised by every write of the row (a character's links count as part of it): a writer
    # writes only if the row is still at the version it read (save_if_version).
    version = models.PositiveBigIntegerField(default=1, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.id is not None:
            return super().save(*args, **kwargs)
        # A new row: insert it under the next free local id. Only an insert, never Django's
        # update-or-insert: two adds that pick the same id would otherwise both "succeed",
        # the second overwriting the first. The loser of the race takes the next id.
        using = kwargs.pop("using", None) or router.db_for_write(type(self), instance=self)
        kwargs.pop("force_insert", None)
        if in_mongodb_transaction(using):
            # Inside a MongoDB transaction (an admin save) a refused insert aborts the whole
            # transaction: no next try in it. The admin runs the save again from its reads.
            self.id = type(self).next_local_id(using)
            try:
                return super().save(*args, using=using, force_insert=True, **kwargs)
            except IntegrityError as error:
                self.id = None
                raise RowChanged("the local id was taken by a concurrent add") from error
        for _ in range(LOCAL_ID_ATTEMPTS):
            self.id = type(self).next_local_id(using)
            try:
                # A savepoint on SQLite (the admin's own transaction survives a lost race);
                # on MongoDB an insert of one document is atomic by itself.
                with transaction.atomic(using=using):
                    return super().save(*args, using=using, force_insert=True, **kwargs)
            except IntegrityError:
                if not type(self)._default_manager.using(using).filter(id=self.id).exists():
                    self.id = None
                    raise  # not the id: some other constraint
        self.id = None
        raise LocalIdTaken(
            f"no free local {self._meta.verbose_name} id after {LOCAL_ID_ATTEMPTS} attempts: "
            "too many concurrent adds; try again"
        )

    def save_if_version(self, fields, using: str | None = None) -> None:
        """Write `fields` of this row and the next version, only if the stored row is still at
        `self.version`: a compare-and-swap on both backends (django-mongodb-backend's update()
        counts matched documents). Raises RowChanged when it is not."""
        using = using or self._state.db
        values = {name: getattr(self, name) for name in fields}
        rows = type(self)._default_manager.using(using).filter(pk=self.pk, version=self.version)
        if not rows.update(**values, version=self.version + 1):
            raise RowChanged(f"{self._meta.verbose_name} {self.pk} changed since it was read")
        self.version += 1

    @property
    def is_local(self) -> bool:
        """Added here (not Marvel's): imports never touch it."""
        return self.id is not None and self.id >= LOCAL_ID_START

    @classmethod
    def next_local_id(cls, using: str | None = None) -> int:
        # The highest local id, one key read backwards from the id index (Max() reads them all).
        rows = cls._default_manager.db_manager(using).filter(id__gte=LOCAL_ID_START)
        highest = rows.order_by("-id").window(0, 1)
        return highest[0].id + 1 if highest else LOCAL_ID_START


@wrap_database_errors  # pymongo's errors as the backend's own queries raise them
def mongo_rows(connection, model, pipeline: list[dict]) -> list[dict]:
    """`pipeline`'s rows from `model`'s collection, decoded by pymongo alone: for the hot reads
    where django-mongodb-backend's query building and per-row converters cost more than the
    query. Through the connection's own collection (so the query is logged and counted like
    the ORM's) and session (a transaction's)."""
    collection = connection.get_collection(model._meta.db_table)
    return list(collection.aggregate(pipeline, session=connection.session))


def pairs_in(model, using: str, field: str, values, key: str, value: str) -> list[tuple]:
    """[(key, value)] of `model`'s rows whose `field` is one of `values` (plain fields).

    On MongoDB read with pymongo: django-mongodb-backend compiles an `__in` filter value by
    value and turns every row through its compiler's converters (together about 5 ms of a list
    page's card comics, a few hundred rows), where pymongo decodes the same rows in C. The
    collection comes from the connection, so the query is logged and counted like the ORM's.
    """
    values = list(values)
    if not values:
        return []  # as the ORM: no query
    connection = connections[using]
    if connection.vendor != "mongodb":
        rows = model._default_manager.using(using).filter(**{f"{field}__in": values})
        return list(rows.values_list(key, value))
    column, key, value = (model._meta.get_field(name).column for name in (field, key, value))
    pipeline = [{"$match": {column: {"$in": values}}}, {"$project": {"_id": 0, key: 1, value: 1}}]
    return [(row.get(key), row.get(value)) for row in mongo_rows(connection, model, pipeline)]


class DerivedFieldsQuerySet(models.QuerySet):
    """Bulk writes that keep a model's derived fields (Model.DERIVED: source field -> fields
    made from it by Model.derive()) in step with their source, as save() does."""

    def _derived(self, fields) -> list[str]:
        derived_fields = getattr(self.model, "derived_fields", None)
        return derived_fields(fields) if derived_fields else []

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        if hasattr(self.model, "derive"):
            for obj in objs:
                obj.derive()
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(self, objs, fields, *args, **kwargs):
        objs, fields = list(objs), list(fields)
        derived = self._derived(fields)
        if derived:
            for obj in objs:
                obj.derive()
            fields += derived
        return super().bulk_update(objs, fields, *args, **kwargs)

    def update(self, **kwargs):
        derived = self._derived(kwargs)
        sources = {f: kwargs[f] for f in getattr(self.model, "DERIVED", ()) if f in kwargs}
        # Plain values only: an expression (F("name")) is worked out by the database.
        if derived and all(isinstance(value, str) for value in sources.values()):
            row = self.model(**sources)
            row.derive()
            kwargs.update({name: getattr(row, name) for name in derived})
        return super().update(**kwargs)


class DerivedFieldsModel(models.Model):
    """A model with fields made from others (a sort key from a name, ...): see
    DerivedFieldsQuerySet."""

    DERIVED: dict[str, tuple[str, ...]] = {}

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.derive()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            update_fields = list(update_fields)
            kwargs["update_fields"] = update_fields + self.derived_fields(update_fields)
        return super().save(*args, **kwargs)

    def derive(self) -> None:
        raise NotImplementedError

    @classmethod
    def derived_fields(cls, fields) -> list[str]:
        return [name for source in cls.DERIVED if source in fields for name in cls.DERIVED[source]]


class IndexedQuerySet(DerivedFieldsQuerySet):
    """Counts and ordered windows that MongoDB serves from an index, not a collection scan.

    django-mongodb-backend 5.2.4 puts a $project/$addFields stage before $sort, so the server
    sorts every matching document in memory, and counts with $facet, which no index serves.
    On SQLite these are plain `count()` and slicing.
    """

    def _on_mongodb(self) -> bool:
        return self.db and connections[self.db].vendor == "mongodb"

    def count(self) -> int:
        query = self.query
        unfiltered = not (query.where or query.is_sliced or query.combinator or query.distinct)
        if self._on_mongodb() and unfiltered and self._result_cache is None:
            # Every id is >= 0: a COUNT_SCAN of the id index reads keys, never documents.
            # (Not $collStats: its count includes an open transaction's inserts, e.g. an
            # import's page in flight or one killed mid-page until the server aborts it.)
            return super(IndexedQuerySet, self.filter(id__gte=0)).count()
        return super().count()

    def window(self, start: int, stop: int) -> list:
        """`list(self[start:stop])`; on MongoDB, read in the ordering's index order.

        The ORM's own filter and sort go into a $match/$sort/$skip/$limit pipeline, which
        walks the index that matches the ordering (see the models' Meta.indexes) and fetches
        only the rows returned. Querysets with joins or annotations are sliced as usual.
        """
        query = self.query
        if not self._on_mongodb() or query.select_related or query.annotations or query.extra:
            return list(self[start:stop])
        if query.is_empty() or stop <= start:  # MongoDB refuses {$limit: 0}
            return []
        compiler = query.get_compiler(using=self.db)
        compiler.pre_sql_setup()
        try:
            mql = compiler.build_query()
        except EmptyResultSet:
            return []
        pipeline = [{"$match": mql.match_mql}] if mql.match_mql else []
        if mql.ordering:
            pipeline.append({"$sort": mql.ordering})
        if start:
            pipeline.append({"$skip": start})
        pipeline.append({"$limit": stop - start})
        return list(RawQuerySet(pipeline, model=self.model, using=self.db))


class Tiers:
    """Rows of several querysets one after another (a search's ranks; known dates before
    unknown ones), each read in its own index order: what IndexedPaginator pages through.

    `parts`: (name, queryset), or (name, queryset, counter) where counter(count) works the
    tier's size out from other counts (a difference of two index counts instead of a count that
    must fetch every row to test a negation). `count(rows, name)`: how a queryset is counted.
    The name says which of the filter's querysets it is ("all", "known", "exact", ...), one
    name for the same rows whatever the sort: a caller keeps counts under its own key for the
    filter and this name (the list view: page_cache.kept_count).
    """

    def __init__(self, parts, count=None):
        self.parts = [
            (name, rows, counter[0] if counter else None) for name, rows, *counter in parts
        ]
        self._count = count or (lambda rows, name: rows.count())

    def counted_with(self, count) -> "Tiers":
        return Tiers(self.parts, count)

    @cached_property
    def counts(self) -> list[int]:
        return [
            max(counter(self._count), 0) if counter else self._count(rows, name)
            for name, rows, counter in self.parts
        ]

    def count(self) -> int:
        return sum(self.counts)

    def window(self, start: int, stop: int) -> list:
        found = []
        for (_, rows, _), size in zip(self.parts, self.counts, strict=True):
            if start < size and stop > 0:
                found += rows.window(max(start, 0), min(stop, size))
            start, stop = start - size, stop - size
        return found


class IndexedPage(Page):
    def end_index(self) -> int:
        if self.paginator.truncated and self.number == self.paginator.num_pages:
            return self.number * self.paginator.per_page  # a full page, not the last row
        return super().end_index()


class IndexedPaginator(Paginator):
    """Django's Paginator over a bounded page range, reading each page with
    IndexedQuerySet.window().

    A page costs its offset: both backends walk every index key before it (MongoDB's $skip,
    SQLite's OFFSET), so page 4,000 of a 105,000-row list costs 4,000 times page 1. Only the
    first `max_pages` pages are served (`num_pages` stops there; a later number is out of
    range as Django's paginators have it); `count` stays the number of rows and `truncated`
    says there are more than the pages reach: a search, a filter or the reversed sort reach
    the others.
    """

    max_pages = MAX_PAGES

    def __init__(self, *args, max_pages: int | None = None, count: int | None = None, **kwargs):
        """`count`: the number of rows when the caller knows it (a count kept per catalogue
        version, characters/page_cache.py), else the rows are counted."""
        super().__init__(*args, **kwargs)
        if max_pages is not None:
            self.max_pages = max_pages
        if count is not None:
            self.count = count  # Paginator.count is a cached_property: this is its value

    @cached_property
    def num_pages(self) -> int:
        return min(Paginator.num_pages.func(self), self.max_pages)

    @property
    def truncated(self) -> bool:
        return Paginator.num_pages.func(self) > self.max_pages

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        rows = self.object_list
        rows = rows.window(bottom, top) if hasattr(rows, "window") else rows[bottom:top]
        return self._get_page(rows, number, self)

    def _get_page(self, *args, **kwargs):
        return IndexedPage(*args, **kwargs)


class ComicTitle(NamedTuple):
    """What a page shows of a comic: plain values, no model instance per row."""

    id: int
    title: str

    def get_absolute_url(self) -> str:
        return reverse("characters:comic", args=[self.id])


class ComicQuerySet(IndexedQuerySet):
    def titles_by_character(self, character_ids) -> dict[int, list[ComicTitle]]:
        """{character id: its comics by title} for many characters, in two indexed queries.

        Links by character_id, then titles by comic id: on MongoDB a join would run one
        $lookup per link row (twice the time for a page of cards); django-mongodb-backend
        has no prefetch_related.
        """
        links = CharacterComic.objects.using(self.db).comic_ids_by_character(character_ids)
        comic_ids = {comic_id for ids in links.values() for comic_id in ids}
        titles = dict(pairs_in(Comic, self.db, "id", comic_ids, "id", "title"))
        found = defaultdict(list)
        for character_id, ids in links.items():
            comics = [ComicTitle(comic, titles[comic]) for comic in ids if comic in titles]
            if comics:
                found[character_id] = sorted(comics, key=lambda c: (c.title.casefold(), c.id))
        return found


class Comic(DerivedFieldsModel, LocalIdModel):
    EDITABLE = {"title": ("title",), "resource URI": ("resource_uri",)}
    DERIVED = {
        "title": ("series", "series_year", "issue_number", "series_key", "issue_order", "title_key")
    }

    title = models.CharField(max_length=500)
    resource_uri = models.URLField("resource URI", max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # What the title holds ("Avengers (1963) #1"), made from it (characters/search.py).
    # None, not "", when unknown: django-mongodb-backend 5.2.4 adds a field's default with a
    # pipeline $set, which refuses "".
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
            lookup_index("comic"),
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
        """The characters in this comic, by name, in two indexed queries: their ids from the
        links' comic_id index, then the characters by id. (Not self.characters, which MongoDB
        answers by joining every character to the links; a select_related join from the links
        runs a $lookup per link there, twice the time and the server's CPU.)"""
        using = self._state.db or router.db_for_read(Character)
        ids = CharacterComic.objects.using(using).character_ids_of(self.pk)
        characters = Character.objects.using(using).filter(id__in=ids) if ids else []
        return sorted(characters, key=lambda c: (c.sort_name or "", c.id))


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
        """`count` random characters (fewer if there are not enough) in one or two queries.

        Reads a window of random_key's index from a random point (wrapping around at the end)
        instead of ORDER BY random(), which MongoDB lacks and which scans the whole table.
        The window is a few times larger than `count` so neighbours in key order vary.
        """
        rows = self.exclude(id__in=list(exclude_ids)).order_by("random_key")
        window = count * SAMPLE_WINDOW_FACTOR
        point = new_random_key()
        found = rows.filter(random_key__gte=point).window(0, window)
        if len(found) < window:
            found += rows.filter(random_key__lt=point).window(0, window - len(found))
        return random.sample(found, min(count, len(found)))

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
    # the same digest and nothing edited here. None: not imported since the field came (None,
    # not "": django-mongodb-backend 5.2.4 adds a field's default with a pipeline $set).
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
            lookup_index("character"),
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


class LinkQuerySet(models.QuerySet):
    """The links read and written through their character_id and comic_id indexes, not the
    relation's managers: MongoDB answers those by joining every comic (or character) to the
    links, a collection scan. Called on the manager: CharacterComic.objects.using(db)."""

    def _pairs(self, field: str, values, key: str, value: str) -> list[tuple]:
        # The links' one fast read (pymongo on MongoDB): every method below reads through it.
        return pairs_in(self.model, self.db, field, values, key, value)

    def comic_ids_by_character(self, character_ids) -> dict[int, list[int]]:
        """{character id: its comic ids, ascending}; a character with none is left out."""
        found = defaultdict(list)
        for character_id, comic_id in self._pairs(
            "character_id", character_ids, "character_id", "comic_id"
        ):
            found[character_id].append(comic_id)
        return {character_id: sorted(ids) for character_id, ids in found.items()}

    def character_ids_of(self, comic_ids) -> list[int]:
        """The ids of the characters in these comics (one comic id, or many), ascending."""
        comic_ids = [comic_ids] if isinstance(comic_ids, int) else comic_ids
        pairs = self._pairs("comic_id", comic_ids, "comic_id", "character_id")
        return sorted({character_id for _, character_id in pairs})

    def replace(self, character: "Character", comic_ids) -> None:
        """Link `character` to exactly these comics, and make a new catalogue version when
        that changed anything: what `character.comics.set()` does, without its read of the
        current comics (a join of every comic to the links on MongoDB) and without
        m2m_changed (the version is bumped here, once)."""
        links = self.using(self._db or character._state.db)
        if links.replace_many({character.pk: comic_ids}):
            CatalogueVersion.bump(using=links.db)

    def replace_many(self, wanted: dict[int, Iterable[int]]) -> bool:
        """Link each character (key) to exactly these comic ids (value), in one read, one
        delete and one insert at most. Whether anything changed; no version bump (the
        caller's write makes one)."""
        wanted = {character_id: set(ids) for character_id, ids in wanted.items()}
        have: dict[int, dict[int, object]] = {character_id: {} for character_id in wanted}
        stored = self.filter(character_id__in=list(wanted))
        for character_id, comic_id, pk in stored.values_list("character_id", "comic_id", "pk"):
            have[character_id][comic_id] = pk
        gone = [
            pk
            for character_id, comics in have.items()
            for comic_id, pk in comics.items()
            if comic_id not in wanted[character_id]
        ]
        new = [
            self.model(character_id=character_id, comic_id=comic_id)
            for character_id, ids in wanted.items()
            for comic_id in sorted(ids - have[character_id].keys())
        ]
        if gone:
            self.filter(pk__in=gone).delete()
        if new:
            self.bulk_create(new)
        return bool(gone or new)


class CharacterComic(models.Model):
    """A character appearing in a comic: Character.comics' link table, named.

    The table, its columns and indexes are the ones Django made for the implicit link model
    (migration 0011 changes the state only); the key is the backend's default auto field.
    """

    character = models.ForeignKey(Character, on_delete=models.CASCADE, related_name="+")
    comic = models.ForeignKey(Comic, on_delete=models.CASCADE, related_name="+")

    objects = LinkQuerySet.as_manager()

    class Meta:
        db_table = "characters_character_comics"
        unique_together = [("character", "comic")]
        verbose_name = "character's comic"

    def __str__(self):
        return f"character {self.character_id} in comic {self.comic_id}"


# Sent after CatalogueVersion.bump(): this process forgets the version it keeps in memory.
catalogue_version_bumped = Signal()


class CatalogueVersion(models.Model):
    """One row whose token changes whenever the catalogue does: every ORM write to characters,
    comics or their links (signals, in any process: the admin's included) and every import
    page that writes. Pages cache and tag themselves (ETag) with it, on every worker and pod,
    and lists keep their counts by it (characters/page_cache.py, which reads it).
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    token = models.CharField(max_length=32, default="")

    class Meta:
        indexes = [lookup_index("catalogue_version")]

    def __str__(self):
        return self.token

    @classmethod
    def bump(cls, using: str | None = None) -> None:
        if getattr(_bumps, "pending", None) is not None:
            _bumps.pending = True  # made once, at the end of bumped_once()
            return
        token = uuid.uuid4().hex  # any new value will do: concurrent bumps need no ordering
        versions = cls.objects.db_manager(using)
        if not versions.filter(id=1).update(token=token):
            versions.update_or_create(id=1, defaults={"token": token})
        catalogue_version_bumped.send(sender=cls, using=versions.db)

    @classmethod
    @contextlib.contextmanager
    def bumped_once(cls, using: str | None = None):
        """The bumps of this thread's writes in the block, made once as its last write: inside
        a MongoDB transaction this one row is written by every save, and two transactions
        writing it at once conflict, so it is held for the shortest time."""
        if getattr(_bumps, "pending", None) is not None:
            yield  # an outer block bumps
            return
        _bumps.pending = False
        try:
            yield
            pending, _bumps.pending = _bumps.pending, None
            if pending:
                cls.bump(using)
        finally:
            _bumps.pending = None


_bumps = threading.local()


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
            lookup_index("deleted_character"),
            models.Index(fields=["name", "id"], name="deleted_character_name"),
        ]

    def __str__(self):
        return self.name


def _new_run_id() -> str:
    return uuid.uuid4().hex


class ImportLock(models.Model):
    """The import running now (one row while seed_marvel writes; characters/ingest/lock.py).

    Created with a fixed id, so a second import's insert is refused by the primary key's unique
    index on both backends; `heartbeat_at` shows it is alive, so a killed one blocks nobody
    for long.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    token = models.CharField(max_length=32)  # this holding of the lock (pids get reused)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()

    class Meta:
        indexes = [lookup_index("import_lock")]

    def __str__(self):
        return f"{self.host} pid {self.pid}"


class ImportRun(models.Model):
    """One seed_marvel run, as the admin shows it (characters/ingest/history.py records it).

    ``lock_token`` is the import lock it held: while that lock row exists the run is alive,
    and its heartbeat says how recently.
    """

    RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"
    OUTCOMES = [(RUNNING, "running"), (SUCCEEDED, "succeeded"), (FAILED, "failed")]

    id = models.CharField(primary_key=True, max_length=32, default=_new_run_id, editable=False)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=OUTCOMES, default=RUNNING)
    source = models.CharField(max_length=500)
    options = models.JSONField(default=dict)  # the run's options, keys left out
    counters = models.JSONField(default=dict)  # the keys of seed_marvel --json
    local_edits_kept = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    lock_token = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"
        indexes = [
            lookup_index("import_run"),
            models.Index(fields=["-started_at"], name="import_run_started"),
        ]

    def __str__(self):
        return f"{self.started_at:%Y-%m-%d %H:%M:%S} UTC, {self.outcome}"
