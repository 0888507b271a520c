"""Parsed Marvel records -> the database: batched, idempotent, on SQLite and MongoDB.

One :meth:`Importer.import_page` call per page of records, with a bounded number of database
round trips whatever the page holds (reads: the page's characters, its comics not yet seen in
this run, and its links, one query each; writes: at most one bulk call per kind of change,
split only by the backend's own batch limits):

- characters are created, updated when their content (Marvel's ``modified`` included)
  differs, and otherwise left alone;
- a Comic per comic item (id from its ``resourceURI``, title from its ``name``), created or
  updated likewise;
- a character's comic links become exactly those of its latest record: new ones are added,
  vanished ones removed.

Only ORM bulk operations are used (``bulk_create``, ``bulk_update``, ``filter(...).delete()``):
they work on both backends (django-mongodb-backend has no ``bulk_create(update_conflicts=
True)``, which is why existing rows are read first). Reads and comparisons come first; a page's
writes then go in one transaction (none is opened when nothing changed): Django's on SQLite,
MongoDB's on a replica set (``marvelsite.transactions.atomic``), so a failed page leaves
nothing behind and a re-run (or ``--offset`` resume) writes it whole.

``dry_run=True`` reads and compares the same way and writes nothing; the counters say what
would have changed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime

from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone

from characters.ingest.records import CharacterRecord, ComicRef, ParsedPage
from characters.models import CatalogueVersion, Character, Comic
from marvelsite.transactions import atomic

CHARACTER_FIELDS = (
    "name",
    "description",
    "thumbnail_path",
    "thumbnail_extension",
    "modified",
    "resource_uri",
    "comics_available",
    "urls",
)
COMIC_FIELDS = ("title", "resource_uri")
Link = Character.comics.through


@dataclass
class ImportStats:
    """Counters for one page or a whole run (the keys of ``seed_marvel --json``)."""

    characters_created: int = 0
    characters_updated: int = 0
    characters_unchanged: int = 0
    characters_skipped: int = 0
    comics_created: int = 0
    comics_updated: int = 0
    links_created: int = 0
    links_deleted: int = 0
    pages: int = 0
    errors: int = 0
    seconds: float = 0.0

    def add(self, other: ImportStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def characters_read(self) -> int:
        return (
            self.characters_created
            + self.characters_updated
            + self.characters_unchanged
            + self.characters_skipped
        )

    @property
    def writes(self) -> int:
        return (
            self.characters_created
            + self.characters_updated
            + self.comics_created
            + self.comics_updated
            + self.links_created
            + self.links_deleted
        )

    def as_dict(self) -> dict:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        return data


def _normal_datetime(value: datetime | None) -> datetime | None:
    """Comparable datetimes: aware UTC, millisecond precision (what MongoDB keeps)."""
    if value is None:
        return None
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _character_values(record: CharacterRecord) -> dict:
    return {
        "name": record.name,
        "description": record.description,
        "thumbnail_path": record.thumbnail_path,
        "thumbnail_extension": record.thumbnail_extension,
        "modified": record.modified,
        "resource_uri": record.resource_uri,
        "comics_available": record.comics_available,
        "urls": record.urls_json(),
    }


def character_row(record: CharacterRecord, now: datetime) -> Character:
    """The Character row a record is stored as (``now``: its created_at/updated_at)."""
    return Character(id=record.id, created_at=now, updated_at=now, **_character_values(record))


def comic_row(comic: ComicRef, now: datetime) -> Comic:
    """The Comic row a character's comic item is stored as."""
    return Comic(
        id=comic.id,
        title=comic.title,
        resource_uri=comic.resource_uri,
        created_at=now,
        updated_at=now,
    )


def _stored_character(row: dict) -> dict:
    stored = {name: row[name] for name in CHARACTER_FIELDS}
    stored["modified"] = _normal_datetime(stored["modified"])
    stored["urls"] = list(stored["urls"] or [])
    return stored


def _changed_fields(wanted: dict, stored: dict) -> list[str]:
    changed = []
    for name in CHARACTER_FIELDS:
        new, old = wanted[name], stored[name]
        if name == "modified":
            new = _normal_datetime(new)
        if new != old:
            changed.append(name)
    return changed


class Importer:
    """Writes parsed pages; ``stats`` accumulates over the pages imported so far."""

    def __init__(self, *, dry_run: bool = False, using: str = DEFAULT_DB_ALIAS) -> None:
        self.dry_run = dry_run
        self.using = using
        self.stats = ImportStats()
        # Comics as this run left them (title, resource_uri): read or written by an earlier
        # page (in a dry run, as it would have written them). Pages share many comics, so
        # later pages read only the ones not seen yet.
        self._known_comics: dict[int, tuple[str, str]] = {}

    def import_page(self, page: ParsedPage) -> ImportStats:
        """Import one page of parsed records; returns (and accumulates) its counters."""
        result = ImportStats(pages=1, characters_skipped=len(page.skipped))
        records = _dedupe(page.records)
        if records:
            plan = self._plan(records, result)
            if plan.has_writes and not self.dry_run:
                with atomic(self.using):
                    self._write(plan)
                # After the commit, outside the transaction: the pages show the import at once.
                CatalogueVersion.bump(using=self.using)
            # Only once the page is written (a failed page's comics are read again).
            self._known_comics.update(plan.comics)
        self.stats.add(result)
        return result

    def _plan(self, records: list[CharacterRecord], result: ImportStats) -> _Plan:
        """Read what the page touches (at most 3 queries) and work out the changes."""
        db = self.using
        now = timezone.now()
        ids = [record.id for record in records]

        # --- reads: one query each ---------------------------------------------------
        stored_characters = {
            row["id"]: _stored_character(row)
            for row in Character.objects.using(db)
            .filter(id__in=ids)
            .order_by()
            .values("id", *CHARACTER_FIELDS)
        }
        wanted_comics: dict[int, ComicRef] = {}
        for record in records:
            for comic in record.comics:
                wanted_comics[comic.id] = comic
        known = self._known_comics
        stored_comics = {cid: known[cid] for cid in wanted_comics if cid in known}
        unseen = [comic_id for comic_id in wanted_comics if comic_id not in known]
        if unseen:
            stored_comics.update(
                (comic_id, (title, uri))
                for comic_id, title, uri in Comic.objects.using(db)
                .filter(id__in=unseen)
                .order_by()
                .values_list("id", *COMIC_FIELDS)
            )
        stored_links: dict[int, dict[int, object]] = {}
        if stored_characters:
            for pk, character_id, comic_id in (
                Link.objects.using(db)
                .filter(character_id__in=list(stored_characters))
                .order_by()
                .values_list("pk", "character_id", "comic_id")
            ):
                stored_links.setdefault(character_id, {})[comic_id] = pk

        # --- compare -------------------------------------------------------------------
        comics_new: list[Comic] = []
        comics_changed: list[Comic] = []
        for comic_id, comic in wanted_comics.items():
            old = stored_comics.get(comic_id)
            if old == (comic.title, comic.resource_uri):
                continue
            # A changed row's created_at is not among the fields bulk_update writes.
            (comics_new if old is None else comics_changed).append(comic_row(comic, now))

        characters_new: list[Character] = []
        characters_changed: list[Character] = []
        changed_fields: set[str] = set()
        links_new: list = []
        links_gone: list = []
        for record in records:
            stored = stored_characters.get(record.id)
            if stored is None:
                characters_new.append(character_row(record, now))
            else:
                changed = _changed_fields(_character_values(record), stored)
                if changed:
                    characters_changed.append(character_row(record, now))
                    changed_fields.update(changed)
            have = stored_links.get(record.id, {})
            want = [comic.id for comic in record.comics]
            links_new.extend(
                Link(character_id=record.id, comic_id=comic_id)
                for comic_id in want
                if comic_id not in have
            )
            keep = set(want)
            links_gone.extend(pk for comic_id, pk in have.items() if comic_id not in keep)

        result.comics_created += len(comics_new)
        result.comics_updated += len(comics_changed)
        result.characters_created += len(characters_new)
        result.characters_updated += len(characters_changed)
        result.characters_unchanged += len(records) - len(characters_new) - len(characters_changed)
        result.links_created += len(links_new)
        result.links_deleted += len(links_gone)
        return _Plan(
            {comic_id: (c.title, c.resource_uri) for comic_id, c in wanted_comics.items()},
            comics_new,
            comics_changed,
            characters_new,
            characters_changed,
            [name for name in CHARACTER_FIELDS if name in changed_fields],
            links_new,
            links_gone,
        )

    def _write(self, plan: _Plan) -> None:
        """Comics, then characters, then links: one bulk call each."""
        db = self.using
        if plan.comics_new:
            Comic.objects.using(db).bulk_create(plan.comics_new)
        if plan.comics_changed:
            Comic.objects.using(db).bulk_update(plan.comics_changed, [*COMIC_FIELDS, "updated_at"])
        if plan.characters_new:
            Character.objects.using(db).bulk_create(plan.characters_new)
        if plan.characters_changed:
            # Only the fields that changed somewhere in this page (all rows get them: the
            # unchanged ones are rewritten with their own values).
            Character.objects.using(db).bulk_update(
                plan.characters_changed, [*plan.character_fields, "updated_at"]
            )
        if plan.links_gone:
            Link.objects.using(db).filter(pk__in=plan.links_gone).delete()
        if plan.links_new:
            Link.objects.using(db).bulk_create(plan.links_new)


@dataclass
class _Plan:
    comics: dict  # every comic of the page, as it will be once written
    comics_new: list
    comics_changed: list
    characters_new: list
    characters_changed: list
    character_fields: list
    links_new: list
    links_gone: list

    @property
    def has_writes(self) -> bool:
        return any(
            (
                self.comics_new,
                self.comics_changed,
                self.characters_new,
                self.characters_changed,
                self.links_new,
                self.links_gone,
            )
        )


def _dedupe(records: list[CharacterRecord]) -> list[CharacterRecord]:
    """One record per id (the last one wins, as a later API answer would)."""
    if len({record.id for record in records}) == len(records):
        return records
    latest = {record.id: record for record in records}
    return list(latest.values())


__all__ = ["CHARACTER_FIELDS", "ImportStats", "Importer", "character_row", "comic_row"]
