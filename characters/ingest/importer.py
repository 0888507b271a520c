"""Parsed Marvel records -> the database: batched, idempotent, on SQLite and MongoDB.

Each page goes read -> plan -> write, with a bounded number of round trips whatever it holds:

- :meth:`Importer.read`: the page's characters, the tombstones of the missing ones, the
  comics to compare not seen yet in this run, and the links of the characters compared in
  full, one query each, into a :class:`~characters.ingest.plan.Stored`;
- :func:`~characters.ingest.plan.plan`: what changes, with no database access (what is
  created, updated or left alone, and what editors own: see that module);
- :meth:`Importer.write`: at most one bulk call per kind of change, split only by the
  backend's own batch limits, in one transaction and only over the versions read. Each row
  ``--overwrite-local-edits`` gives back to Marvel gets an admin LogEntry (by the inactive user
  "seed_marvel").

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

import itertools
from dataclasses import dataclass

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone

from characters import images
from characters.ingest.plan import (
    CHARACTER_FIELDS,
    COMIC_FIELDS,
    Plan,
    Policy,
    Stored,
    StoredCharacter,
    StoredComic,
    character_row,
    comic_row,
    comics_to_compare,
    is_as_stored,
    plan,
    record_digest,
)
from characters.ingest.records import CharacterRecord, ParsedPage, to_milliseconds
from characters.ingest.stats import ImportStats
from characters.models import (
    CatalogueVersion,
    Character,
    CharacterComic,
    Comic,
    DeletedCharacter,
    RowChanged,
)
from marvelsite.transactions import atomic, has_transactions

# Comics an import remembers between pages; see Importer.__init__.
KNOWN_COMICS = 100_000
# A page whose rows another writer changed between its reads and its write transaction is read
# and planned again at once, this many times in all; then seed() retries it with a pause.
REPLANS = 4
# The account admin log entries of `--overwrite-local-edits` are made by (inactive, no password).
LOG_USERNAME = "seed_marvel"
OVERWRITTEN = "Reset to Marvel's data by seed_marvel --overwrite-local-edits"


class Importer:
    """Reads, plans and writes parsed pages; ``stats`` accumulates over the pages so far."""

    def __init__(
        self,
        *,
        dry_run: bool = False,
        overwrite_local_edits: bool = False,
        using: str = DEFAULT_DB_ALIAS,
    ) -> None:
        self.dry_run = dry_run
        self.using = using
        self.stats = ImportStats()
        # On a standalone mongod (no transactions) a page killed after its characters could
        # leave a digest over missing links: every character is compared in full there.
        self.policy = Policy(overwrite_local_edits, trust_digests=has_transactions(using))
        # Comics as this run left them: read or written by a recent page (in a dry run, as it
        # would have written them). Neighbouring pages share many comics, so later pages read
        # only the ones not seen lately. The most recently seen KNOWN_COMICS only: all of them
        # would grow with the catalogue; a page's reads stay bounded by its own comics anyway.
        self._known_comics: dict[int, StoredComic] = {}
        # The ids of the comics edited here, read once, when a page first has a character
        # not compared in full. A comic edited during the run is counted from the next run on.
        self._edited_comics: frozenset[int] | None = None
        self._unconfirmed: _Unconfirmed | None = None
        self._log_user_id = None

    def import_page(self, page: ParsedPage) -> ImportStats:
        """Import one page of parsed records; returns (and accumulates) its counters.

        The page's writes are conditional: inside the write transaction the versions of the
        rows to write are read again, and if another writer (an editor in the admin) changed
        one since the page's reads, nothing is written and the page is read and planned again.
        """
        records = _dedupe(page.records)
        unconfirmed, self._unconfirmed = self._unconfirmed, None
        if unconfirmed and unconfirmed.offset == page.offset and self._was_applied(unconfirmed):
            # Tried again after a commit whose answer was lost, which was in fact applied:
            # the page is written, and counted as that commit wrote it.
            written = unconfirmed.plan
            if written.has_writes:
                CatalogueVersion.bump(using=self.using)  # the lost answer may have skipped it
            self._remember(written.comics)
            return self._count(written, page)
        for attempt in range(1, REPLANS + 1):
            try:
                done = self._import_records(records, page.offset) if records else Plan()
                break
            except RowChanged:
                if attempt == REPLANS:
                    raise
        return self._count(done, page)

    def _count(self, done: Plan, page: ParsedPage) -> ImportStats:
        result = done.counts()
        result.add(ImportStats(pages=1, characters_skipped=len(page.skipped)))
        self.stats.add(result)
        return result

    def _import_records(self, records: list[CharacterRecord], offset: int) -> Plan:
        planned = plan(records, self.read(records), self.policy)
        if (planned.has_writes or planned.digests) and not self.dry_run:
            try:
                self.write(planned)
            except RowChanged:
                # Comics this run remembers may be the ones changed: read them again.
                for comic_id in planned.comic_versions:
                    self._known_comics.pop(comic_id, None)
                raise
            except Exception:
                # The commit may have been applied even so (its answer lost): a retry of this
                # page checks whether the rows are as this plan wrote them.
                self._unconfirmed = _Unconfirmed(offset, planned)
                raise
        # Only once the page is written (a failed page's comics are read again).
        self._remember(planned.comics)
        return planned

    def read(self, records: list[CharacterRecord]) -> Stored:
        """What the page touches, in at most 4 queries: its characters, the tombstones of the
        missing ones, the comics to compare not remembered from earlier pages, and the links
        of the characters compared in full.

        A character stored with its record's digest and nothing edited here is not compared:
        on a re-run that is every character, so a page costs one read. `--overwrite-local-edits`
        compares every character in full (the way to repair a row changed behind the admin's
        back).
        """
        db = self.using
        read_at = timezone.now()
        ids = [record.id for record in records]
        characters = {
            row["id"]: StoredCharacter(
                row["version"],
                row["local_edits"],
                row["marvel_digest"],
                {name: row[name] for name in CHARACTER_FIELDS},
            )
            for row in Character.objects.using(db)
            .filter(id__in=ids)
            .order_by()
            .values("id", "version", "local_edits", "marvel_digest", *CHARACTER_FIELDS)
        }
        as_stored, compared = [], []
        for record in records:
            same = is_as_stored(record, characters.get(record.id), self.policy)
            (as_stored if same else compared).append(record)
        missing = [pk for pk in ids if pk not in characters]
        deleted_here = frozenset(
            DeletedCharacter.objects.using(db).filter(id__in=missing).values_list("id", flat=True)
            if missing
            else ()
        )
        edited = self._edited_comic_ids() if as_stored else frozenset()
        wanted = comics_to_compare(as_stored, compared, edited)
        known = self._known_comics
        comics = {comic_id: known[comic_id] for comic_id in wanted if comic_id in known}
        if unseen := [comic_id for comic_id in wanted if comic_id not in known]:
            comics.update(
                (comic_id, StoredComic(*stored))
                for comic_id, *stored in Comic.objects.using(db)
                .filter(id__in=unseen)
                .order_by()
                .values_list("id", *COMIC_FIELDS, "local_edits", "version")
            )
        links: dict[int, dict[int, object]] = {}
        if linked := [record.id for record in compared if record.id in characters]:
            for pk, character_id, comic_id in (
                CharacterComic.objects.using(db)
                .filter(character_id__in=linked)
                .order_by()
                .values_list("pk", "character_id", "comic_id")
            ):
                links.setdefault(character_id, {})[comic_id] = pk
        return Stored(read_at, characters, deleted_here, comics, links, edited)

    def write(self, planned: Plan) -> None:
        """Write a plan in one transaction if every stored row it writes is still at the
        version it read (else RowChanged, nothing written), then show it: a new catalogue
        version, outside the transaction (digests alone are not shown). A failure there is a
        page written but not shown: its retry finds it applied, and shows it."""
        log_entries = self._log_entries(planned)  # read before the transaction
        with atomic(self.using):
            self._check_versions(planned)
            self._write_rows(planned, log_entries)
        if planned.has_writes:
            CatalogueVersion.bump(using=self.using)

    def _was_applied(self, unconfirmed: _Unconfirmed) -> bool:
        """Whether every row of an unconfirmed page write is as that write left it: its
        version, digest and updated_at (that page's own time; versions alone could be an
        editor's since). One query per model."""
        for model, expected in unconfirmed.plan.written().items():
            if not expected:
                continue
            rows = model.objects.using(self.using).filter(id__in=list(expected)).order_by()
            columns = ["id", "version", "updated_at"]
            columns += ["marvel_digest"] if model is Character else []
            found = {row[0]: row[1:] for row in rows.values_list(*columns)}
            for pk, state in expected.items():
                have = found.get(pk)
                if have is None or have[0] != state.version:
                    return False
                if model is Character and have[2] != state.marvel_digest:
                    return False
                if state.updated_at is not None and to_milliseconds(have[1]) != state.updated_at:
                    return False
        return True

    def _check_versions(self, plan: Plan) -> None:
        """Raise RowChanged unless every stored row the plan writes is still at the version
        the plan read: one query per model, inside the write transaction. On SQLite that
        transaction holds the write lock from its start (BEGIN IMMEDIATE), so nothing commits
        between this read and the writes; on a MongoDB replica set a write committed after
        this read makes the page's own write of that row fail with a WriteConflict, which
        seed() retries (a new read, a new plan)."""
        for model, versions in ((Character, plan.character_versions), (Comic, plan.comic_versions)):
            if not versions:
                continue
            now = dict(
                model.objects.using(self.using)
                .filter(id__in=list(versions))
                .order_by()
                .values_list("id", "version")
            )
            if moved := [pk for pk, version in versions.items() if now.get(pk) != version]:
                raise RowChanged(f"{model._meta.verbose_name} {moved[:5]} changed since read")

    def _remember(self, comics: dict[int, StoredComic]) -> None:
        """Keep `comics` as the most recently seen; forget the least recently seen beyond
        KNOWN_COMICS (a dict keeps insertion order: oldest first)."""
        known = self._known_comics
        for comic_id, values in comics.items():
            known.pop(comic_id, None)
            known[comic_id] = values
        for comic_id in list(itertools.islice(known, max(len(known) - KNOWN_COMICS, 0))):
            del known[comic_id]

    def _edited_comic_ids(self) -> frozenset[int]:
        if self._edited_comics is None:
            self._edited_comics = frozenset(
                Comic.objects.using(self.using)
                .filter(local_edits__isnull=False)
                .order_by()
                .values_list("id", flat=True)
            )
        return self._edited_comics

    def _log_entries(self, plan: Plan) -> list[LogEntry]:
        """Admin log entries for the rows `--overwrite-local-edits` gives back to Marvel."""
        if not plan.restored:
            return []
        if self._log_user_id is None:
            users = get_user_model()._default_manager.db_manager(self.using)
            user, made = users.get_or_create(username=LOG_USERNAME, defaults={"is_active": False})
            if made:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            self._log_user_id = user.pk
        content_types = ContentType.objects.db_manager(self.using)
        return [
            LogEntry(
                user_id=self._log_user_id,
                content_type_id=content_types.get_for_model(restored.model).pk,
                object_id=str(restored.id),
                object_repr=restored.name[:200],
                action_flag=ADDITION if restored.recreated else CHANGE,
                change_message=f"{OVERWRITTEN}: {', '.join(restored.groups)}.",
            )
            for restored in plan.restored
        ]

    def _write_rows(self, plan: Plan, log_entries: list[LogEntry]) -> None:
        """Comics, then characters, then links: one bulk call each."""
        db = self.using
        if plan.comics_new:
            Comic.objects.using(db).bulk_create(plan.comics_new)
        if plan.comics_changed:
            Comic.objects.using(db).bulk_update(
                plan.comics_changed, [*COMIC_FIELDS, "local_edits", "updated_at", "version"]
            )
        if plan.characters_new:
            Character.objects.using(db).bulk_create(plan.characters_new)
        if plan.characters_changed:
            # Only the fields that changed somewhere in this page (all rows get them: the
            # unchanged ones are rewritten with their own values).
            Character.objects.using(db).bulk_update(
                plan.characters_changed, [*plan.character_fields, "updated_at", "version"]
            )
        if plan.digests:
            digests = list(plan.digests.values())
            Character.objects.using(db).bulk_update(digests, ["marvel_digest", "version"])
        if plan.links_gone:
            CharacterComic.objects.using(db).filter(pk__in=plan.links_gone).delete()
        if plan.links_new:
            links = [CharacterComic(character_id=c, comic_id=k) for c, k in plan.links_new]
            CharacterComic.objects.using(db).bulk_create(links)
        if plan.tombstones_lifted:
            DeletedCharacter.objects.using(db).filter(id__in=plan.tombstones_lifted).delete()
        if log_entries:
            LogEntry.objects.using(db).bulk_create(log_entries)
        for sha256 in plan.uploads_dropped:
            images.delete_when_unused(sha256, db)


@dataclass
class _Unconfirmed:
    """A page write whose transaction raised: the plan it was writing."""

    offset: int
    plan: Plan


def _dedupe(records: list[CharacterRecord]) -> list[CharacterRecord]:
    """One record per id (the last one wins, as a later API answer would)."""
    if len({record.id for record in records}) == len(records):
        return records
    latest = {record.id: record for record in records}
    return list(latest.values())


__all__ = [
    "CHARACTER_FIELDS",
    "ImportStats",
    "Importer",
    "character_row",
    "comic_row",
    "record_digest",
]
