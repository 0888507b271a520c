"""Parsed Marvel records -> the database: batched, idempotent, on SQLite and MongoDB.

One :meth:`Importer.import_page` call per page of records, with a bounded number of database
round trips whatever the page holds (reads: the page's characters, its comics not yet seen in
this run, and its links, one query each; writes: at most one bulk call per kind of change,
split only by the backend's own batch limits):

- characters are created, updated when their content (Marvel's ``modified`` included)
  differs, and otherwise left alone; a character stored with the digest of the same record
  (``record_digest``) and nothing edited here is not compared at all: a no-change re-run
  reads each page's characters only;
- a Comic per comic item (id from its ``resourceURI``, title from its ``name``), created or
  updated likewise;
- a character's comic links become exactly those of its latest record: new ones are added,
  vanished ones removed;
- what editors own is left alone (characters/ownership.py): a field group edited in the admin
  keeps its local value, and only Marvel's latest value of it is noted (a write only when that
  changes); a character deleted in the admin (a tombstone) is not re-created. Each upstream
  change held back counts in ``local_edits_kept``. With ``overwrite_local_edits=True`` Marvel's
  data wins instead: edits are overwritten, tombstoned characters re-created, and each row so
  restored gets an admin LogEntry (by the inactive user "seed_marvel").

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

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone

from characters import images, ownership
from characters.ingest.records import CharacterRecord, ComicRef, ParsedPage
from characters.models import CatalogueVersion, Character, Comic, DeletedCharacter, RowChanged
from marvelsite.transactions import atomic, has_transactions

CHARACTER_FIELDS = (
    "name",
    "description",
    "thumbnail_path",
    "thumbnail_extension",
    "modified",
    "resource_uri",
    "comics_available",
    "urls",
    "image_upload",  # an editor's (characters/images.py): Marvel's value is always none
)
COMIC_FIELDS = ("title", "resource_uri")
# Comics an import remembers between pages (about 300 bytes each); see Importer.__init__.
KNOWN_COMICS = 100_000
# A page whose rows another writer changed between its reads and its write transaction is read
# and planned again at once, this many times in all; then seed() retries it with a pause.
REPLANS = 4
# Part of every record digest: bump it when what an import stores from a record changes, so
# the next import compares every character in full again.
DIGEST_VERSION = 2
Link = Character.comics.through
# The account admin log entries of `--overwrite-local-edits` are made by (inactive, no password).
LOG_USERNAME = "seed_marvel"
OVERWRITTEN = "Reset to Marvel's data by seed_marvel --overwrite-local-edits"


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
    local_edits_kept: int = 0
    local_edits_overwritten: int = 0
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

    def summary(self, *, dry_run: bool = False, source: str | None = None) -> str:
        """The run in one line, as seed_marvel prints it."""

        def counted(n: int, what: str) -> str:
            return f"{n} {what}{'' if n == 1 else 's'}"

        verb = "Dry run, nothing written: would have" if dry_run else "Done:"
        overwritten = self.local_edits_overwritten
        return (
            f"{verb} {self.characters_created} characters created, "
            f"{self.characters_updated} updated, {self.characters_unchanged} unchanged, "
            f"{self.characters_skipped} skipped; comics {self.comics_created} created, "
            f"{self.comics_updated} updated; links {self.links_created} added, "
            f"{self.links_deleted} removed; {counted(self.local_edits_kept, 'local edit')} kept"
            + (f", {overwritten} overwritten" if overwritten else "")
            + f"; {counted(self.pages, 'page')}"
            + (f" from {source}" if source else "")
            + f" in {self.seconds:.1f}s"
            + (f"; {counted(self.errors, 'error')}" if self.errors else "")
        )


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


def record_digest(record: CharacterRecord) -> str:
    """A short digest of what an import stores from `record`: the character's fields and its
    comics (ids, titles, resource URIs; in any order). A character stored with its record's
    digest and nothing edited here needs no comparison (Importer._plan)."""
    values = _character_values(record)
    modified = _normal_datetime(record.modified)
    values["modified"] = modified.isoformat() if modified else None
    comics = sorted((comic.id, comic.title, comic.resource_uri) for comic in record.comics)
    canonical = json.dumps([DIGEST_VERSION, values, comics], sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(canonical.encode(), digest_size=16).hexdigest()


def character_row(record: CharacterRecord, now: datetime, digest: str | None = None) -> Character:
    """The Character row a record is stored as (``now``: its created_at/updated_at;
    ``digest``: the record's, when already worked out)."""
    return Character(
        id=record.id,
        created_at=now,
        updated_at=now,
        marvel_digest=digest or record_digest(record),
        **_character_values(record),
    )


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

    def __init__(
        self,
        *,
        dry_run: bool = False,
        overwrite_local_edits: bool = False,
        using: str = DEFAULT_DB_ALIAS,
    ) -> None:
        self.dry_run = dry_run
        self.overwrite = overwrite_local_edits
        self.using = using
        self.stats = ImportStats()
        # Comics as this run left them (title, resource_uri, local_edits, version): read or
        # written by a recent page (in a dry run, as it would have written them). Neighbouring pages
        # share many comics, so later pages read only the ones not seen lately. The most
        # recently seen KNOWN_COMICS only (about 35 MB): all of them would grow with the
        # catalogue (about 250 MB for 673,000 comics); a page's reads stay bounded by its own
        # comics either way.
        self._known_comics: dict[int, tuple[str, str, dict | None]] = {}
        # The ids of the comics edited here, read once, when a page first skips a character
        # (see _plan). A comic edited during the run is counted from the next run on.
        self._edited_comics: set[int] | None = None
        # A stored digest vouches for the character's links and comics only when the page that
        # wrote it was all-or-nothing: on a standalone mongod (no transactions) a page killed
        # after its characters could leave a digest over missing links, so every character is
        # compared in full there, as before digests.
        self._trust_digests = has_transactions(using)
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
            result = unconfirmed.result
            if unconfirmed.shown:
                CatalogueVersion.bump(using=self.using)  # the lost answer may have skipped it
            self._remember(unconfirmed.comics)
            self.stats.add(result)
            return result
        for attempt in range(1, REPLANS + 1):
            result = ImportStats(pages=1, characters_skipped=len(page.skipped))
            try:
                if records:
                    self._import_records(records, result, page.offset)
                break
            except RowChanged:
                if attempt == REPLANS:
                    raise
        self.stats.add(result)
        return result

    def _import_records(self, records: list[CharacterRecord], result: ImportStats, offset: int):
        plan = self._plan(records, result)
        if (plan.has_writes or plan.digests) and not self.dry_run:
            log_entries = self._log_entries(plan)  # read before the transaction
            try:
                with atomic(self.using):
                    self._check_versions(plan)
                    self._write(plan, log_entries)
                # After the commit, outside the transaction: the pages show the import at once
                # (digests alone are not shown: no new version for them). A failure here is a
                # page written but not shown: its retry finds it applied, and shows it.
                if plan.has_writes:
                    CatalogueVersion.bump(using=self.using)
            except RowChanged:
                # Comics this run remembers may be the ones changed: read them again.
                for comic_id in plan.comic_versions:
                    self._known_comics.pop(comic_id, None)
                raise
            except Exception:
                # The commit may have been applied even so (its answer lost): a retry of this
                # page checks whether the rows are as this plan wrote them.
                self._unconfirmed = _Unconfirmed(
                    offset, plan.written(), result, plan.comics, plan.has_writes
                )
                raise
        # Only once the page is written (a failed page's comics are read again).
        self._remember(plan.comics)

    def _was_applied(self, unconfirmed: _Unconfirmed) -> bool:
        """Whether every row of an unconfirmed page write is as that write left it: its
        version, digest and updated_at (that page's own time; versions alone could be an
        editor's since). One query per model."""
        for model, expected in unconfirmed.rows.items():
            if not expected:
                continue
            columns = ["id", "version", "updated_at"]
            columns += ["marvel_digest"] if model is Character else []
            rows = model.objects.using(self.using).filter(id__in=list(expected)).order_by()
            found = {row[0]: row[1:] for row in rows.values_list(*columns)}
            for pk, (version, updated_at, *digest) in expected.items():
                have = found.get(pk)
                if have is None or have[0] != version or have[2:] != tuple(digest):
                    return False
                if updated_at is not None and _normal_datetime(have[1]) != updated_at:
                    return False
        return True

    def _check_versions(self, plan: _Plan) -> None:
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

    def _remember(self, comics: dict[int, tuple]) -> None:
        """Keep `comics` as the most recently seen; forget the least recently seen beyond
        KNOWN_COMICS (a dict keeps insertion order: oldest first)."""
        known = self._known_comics
        for comic_id, values in comics.items():
            known.pop(comic_id, None)
            known[comic_id] = values
        for comic_id in list(itertools.islice(known, max(len(known) - KNOWN_COMICS, 0))):
            del known[comic_id]

    def _plan(self, records: list[CharacterRecord], result: ImportStats) -> _Plan:
        """Read what the page touches (at most 4 queries) and work out the changes.

        A character stored with its record's digest and nothing edited here is as an import of
        that record leaves it (its fields, links and comics are written with the digest, in
        one transaction; every edit in the admin is noted in local_edits): it is counted
        unchanged without reading its links and comics. On a re-run that is every character,
        so a page costs one read. `--overwrite-local-edits` compares every character in full
        (the way to repair a row changed behind the admin's back).
        """
        db = self.using
        now = timezone.now()
        ids = [record.id for record in records]
        digests = {record.id: record_digest(record) for record in records}

        # --- reads: one query each ---------------------------------------------------
        stored_characters = {
            row["id"]: row
            for row in Character.objects.using(db)
            .filter(id__in=ids)
            .order_by()
            .values("id", "version", "local_edits", "marvel_digest", *CHARACTER_FIELDS)
        }
        same_digest, compared = [], []
        for record in records:
            stored = stored_characters.get(record.id)
            same = (
                self._trust_digests
                and stored is not None
                and not self.overwrite
                and not stored["local_edits"]
                and stored["marvel_digest"] == digests[record.id]
            )
            (same_digest if same else compared).append(record)
        missing = [pk for pk in ids if pk not in stored_characters]
        deleted_here = (
            set(
                DeletedCharacter.objects.using(db)
                .filter(id__in=missing)
                .values_list("id", flat=True)
            )
            if missing
            else set()
        )
        wanted_comics: dict[int, ComicRef] = {}
        if same_digest:
            # Comics edited here are compared whoever lists them: each upstream value held
            # back counts in local_edits_kept, as when the character is compared.
            edited = self._edited_comic_ids()
            for record in same_digest:
                for comic in record.comics:
                    if comic.id in edited:
                        wanted_comics[comic.id] = comic
        for record in compared:
            for comic in record.comics:
                wanted_comics[comic.id] = comic
        known = self._known_comics
        stored_comics = {cid: known[cid] for cid in wanted_comics if cid in known}
        unseen = [comic_id for comic_id in wanted_comics if comic_id not in known]
        if unseen:
            stored_comics.update(
                (comic_id, (title, uri, edits, version))
                for comic_id, title, uri, edits, version in Comic.objects.using(db)
                .filter(id__in=unseen)
                .order_by()
                .values_list("id", *COMIC_FIELDS, "local_edits", "version")
            )
        stored_links: dict[int, dict[int, object]] = {}
        linked = [record.id for record in compared if record.id in stored_characters]
        if linked:
            for pk, character_id, comic_id in (
                Link.objects.using(db)
                .filter(character_id__in=linked)
                .order_by()
                .values_list("pk", "character_id", "comic_id")
            ):
                stored_links.setdefault(character_id, {})[comic_id] = pk

        # --- compare -------------------------------------------------------------------
        plan = _Plan()
        for comic_id, comic in wanted_comics.items():
            self._plan_comic(plan, comic, stored_comics.get(comic_id), now, result)

        result.characters_unchanged += len(same_digest)
        changed_fields: set[str] = set()
        for record in compared:
            stored = stored_characters.get(record.id)
            digest = digests[record.id]
            if stored is None:
                if record.id in deleted_here and not self.overwrite:
                    result.local_edits_kept += 1  # deleted here: stays deleted
                    result.characters_unchanged += 1
                    continue
                plan.characters_new.append(character_row(record, now, digest))
                result.characters_created += 1
                if record.id in deleted_here:
                    plan.tombstones_lifted.append(record.id)
                    plan.restored.append(
                        (Character, record.id, record.name, ADDITION, ["deleted here"])
                    )
                    result.local_edits_overwritten += 1
                have: dict[int, object] = {}
            else:
                have = stored_links.get(record.id, {})
                changed, keep_links = self._plan_character(
                    plan, record, digest, stored, have, now, result
                )
                changed_fields.update(changed)
                if keep_links:
                    continue
            want = [comic.id for comic in record.comics]
            new_links = [c for c in want if c not in have]
            plan.links_new.extend(Link(character_id=record.id, comic_id=c) for c in new_links)
            keep = set(want)
            gone = [pk for comic_id, pk in have.items() if comic_id not in keep]
            plan.links_gone.extend(gone)
            if (new_links or gone) and stored is not None:
                # The links are part of the character: their change is a new version of it.
                plan.bump_version(record.id, stored["version"], digest)
            result.links_created += len(new_links)
            result.links_deleted += len(gone)
        plan.character_fields = [
            name
            for name in (*CHARACTER_FIELDS, "local_edits", "marvel_digest")
            if name in changed_fields
        ]
        return plan

    def _edited_comic_ids(self) -> set[int]:
        if self._edited_comics is None:
            self._edited_comics = set(
                Comic.objects.using(self.using)
                .filter(local_edits__isnull=False)
                .order_by()
                .values_list("id", flat=True)
            )
        return self._edited_comics

    def _plan_comic(self, plan, comic: ComicRef, stored, now, result: ImportStats) -> None:
        """A comic as Marvel has it, except for fields edited here (unless overwriting)."""
        incoming = {"title": comic.title, "resource_uri": comic.resource_uri}
        if stored is None:
            plan.comics[comic.id] = (comic.title, comic.resource_uri, None, 1)
            plan.comics_new.append(comic_row(comic, now))
            result.comics_created += 1
            return
        title, uri, stored_edits, version = stored
        current = {"title": title, "resource_uri": uri}
        values, edits, kept = self._own(Comic, incoming, current, stored_edits, result)
        if self.overwrite and stored_edits:
            plan.restored.append((Comic, comic.id, comic.title, CHANGE, sorted(stored_edits)))
        if (values, edits) == (current, stored_edits):
            plan.comics[comic.id] = stored
            return
        plan.comics[comic.id] = (values["title"], values["resource_uri"], edits, version + 1)
        row = comic_row(comic, now)
        row.title, row.resource_uri, row.local_edits = (
            values["title"],
            values["resource_uri"],
            edits,
        )
        row.version = version + 1
        plan.comic_versions[comic.id] = version
        plan.comics_changed.append(row)
        result.comics_updated += 1

    def _plan_character(self, plan, record, digest, stored: dict, have: dict, now, result):
        """Fields changed for a stored character, and whether its links stay as they are.
        A new digest alone (the record changed only where an edit here holds, or a comic's
        title; a character stored before digests) is written without counting an update."""
        incoming = _character_values(record) | {"image_upload": None}
        current = _stored_character(stored)
        comics = {"comics": [comic.id for comic in record.comics]}, {"comics": list(have)}
        values, edits, kept = self._own(
            Character, incoming | comics[0], current | comics[1], stored["local_edits"], result
        )
        values.pop("comics")
        if self.overwrite and stored["local_edits"]:
            groups = sorted(stored["local_edits"])
            plan.restored.append((Character, record.id, values["name"], CHANGE, groups))
            if stored["image_upload"]:
                plan.uploads_dropped.append(stored["image_upload"])
        changed = _changed_fields(values, current)
        if edits != stored["local_edits"]:
            changed.append("local_edits")
        new_digest = digest != stored["marvel_digest"]
        if changed:
            row = character_row(record, now, digest)
            for name, value in values.items():
                setattr(row, name, value)
            row.local_edits = edits
            row.version = stored["version"] + 1
            plan.character_versions[record.id] = stored["version"]
            plan.characters_changed.append(row)
            result.characters_updated += 1
            if new_digest:
                changed.append("marvel_digest")
        else:
            result.characters_unchanged += 1
            if new_digest:
                plan.bump_version(record.id, stored["version"], digest)
        return changed, "comics" in kept

    def _own(self, model, incoming: dict, current: dict, edits, result: ImportStats):
        """What to store of `incoming` for a row holding `current`, with `edits` (its
        local_edits): (values, the new local_edits, the groups kept local).

        Each edited group keeps its current (local) value, and its Marvel value becomes the
        incoming one; a group whose incoming value differs from the local one is an upstream
        change held back (counted). A group Marvel now has the same as here follows Marvel
        again. Overwriting, Marvel's values win and the edits go.
        """
        if not edits:
            return dict(incoming), None, set()
        if self.overwrite:
            result.local_edits_overwritten += 1
            return dict(incoming), None, set()
        values, edits = dict(incoming), dict(edits)
        marvel = ownership.group_values(model, incoming)
        local = ownership.group_values(model, current)
        kept = set()
        for group in list(edits):
            group_fields = model.EDITABLE.get(group)
            if group_fields is None or group not in marvel:
                continue
            if marvel[group] == local[group]:
                del edits[group]  # Marvel caught up with the edit
                continue
            kept.add(group)
            for name in group_fields:
                values[name] = current[name]
            result.local_edits_kept += 1
            edits[group] = marvel[group]
        return values, edits or None, kept

    def _log_entries(self, plan: _Plan) -> list[LogEntry]:
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
                content_type_id=content_types.get_for_model(model).pk,
                object_id=str(pk),
                object_repr=name[:200],
                action_flag=flag,
                change_message=f"{OVERWRITTEN}: {', '.join(groups)}.",
            )
            for model, pk, name, flag, groups in plan.restored
        ]

    def _write(self, plan: _Plan, log_entries: list[LogEntry]) -> None:
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
            Link.objects.using(db).filter(pk__in=plan.links_gone).delete()
        if plan.links_new:
            Link.objects.using(db).bulk_create(plan.links_new)
        if plan.tombstones_lifted:
            DeletedCharacter.objects.using(db).filter(id__in=plan.tombstones_lifted).delete()
        if log_entries:
            LogEntry.objects.using(db).bulk_create(log_entries)
        for sha256 in plan.uploads_dropped:
            images.delete_when_unused(sha256, db)


@dataclass
class _Unconfirmed:
    """A page write whose transaction raised: its rows as it would have left them."""

    offset: int
    rows: dict  # model -> {id: (version, updated_at or None[, marvel_digest])}
    result: ImportStats
    comics: dict
    shown: bool  # whether it changes what pages show (a new catalogue version)


@dataclass
class _Plan:
    comics: dict = field(default_factory=dict)  # the page's comics, as they will be once written
    comics_new: list = field(default_factory=list)
    comics_changed: list = field(default_factory=list)
    characters_new: list = field(default_factory=list)
    characters_changed: list = field(default_factory=list)
    character_fields: list = field(default_factory=list)
    # Characters written for their digest or links alone: id -> row with the digest and version.
    digests: dict = field(default_factory=dict)
    # The versions read of the stored rows this plan writes (id -> version).
    character_versions: dict = field(default_factory=dict)
    comic_versions: dict = field(default_factory=dict)
    links_new: list = field(default_factory=list)
    links_gone: list = field(default_factory=list)
    tombstones_lifted: list = field(default_factory=list)
    restored: list = field(default_factory=list)  # (model, id, name, flag, groups): log entries
    uploads_dropped: list = field(default_factory=list)  # sha256s: files deleted once committed

    def written(self) -> dict:
        """{model: {id: the row's (version, updated_at or None[, marvel_digest]) once written}}."""
        characters = {
            row.id: (row.version, _normal_datetime(row.updated_at), row.marvel_digest)
            for row in (*self.characters_new, *self.characters_changed)
        }
        for pk, row in self.digests.items():
            characters[pk] = (row.version, None, row.marvel_digest)
        comics = {
            row.id: (row.version, _normal_datetime(row.updated_at), None)
            for row in (*self.comics_new, *self.comics_changed)
        }
        return {
            Character: characters,
            Comic: {pk: state[:2] for pk, state in comics.items()},
        }

    def bump_version(self, character_id: int, version: int, digest: str) -> None:
        """A new version of a stored character whose fields stay as they are."""
        if character_id in self.character_versions:
            return  # written in full already
        self.character_versions[character_id] = version
        row = Character(id=character_id, marvel_digest=digest, version=version + 1)
        self.digests[character_id] = row

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
                self.tombstones_lifted,
            )
        )


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
