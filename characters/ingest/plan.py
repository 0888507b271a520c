"""What one page of records changes, worked out with no database access.

:func:`plan` takes the page's records, what the database holds of them (:class:`Stored`, read
by the importer) and the :class:`Policy`, and returns a :class:`Plan`: rows to create and
update, links to add and remove, the versions read of the rows it writes, and its counts.

- Characters are created, updated when their content (Marvel's ``modified`` included)
  differs, and otherwise left alone. One stored with its record's digest and nothing edited
  here is as an import of that record leaves it: counted unchanged, its links and comics not
  compared (nor read), but for comics edited here, compared whoever lists them.
- A Comic per comic item (id from its ``resourceURI``, title from its ``name``), created or
  updated likewise; a character's links become exactly those of its latest record.
- What editors own is kept (characters/ownership.py): an edited field group keeps its local
  value and only Marvel's latest value of it is noted (a write only when that changes); a
  character deleted here stays deleted. Each upstream change held back is listed
  (``kept_local``). With ``overwrite_local_edits`` Marvel's data wins, and each row so
  restored is listed (``restored``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from characters import ownership
from characters.ingest.records import CharacterRecord, ComicRef, to_milliseconds
from characters.ingest.stats import ImportStats
from characters.models import Character, Comic

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
# Part of every record digest: bump it when what an import stores from a record changes, so
# the next import compares every character in full again.
DIGEST_VERSION = 2
# The "group" a tombstone holds back: a Marvel character deleted here.
DELETED_HERE = "deleted here"


class StoredComic(NamedTuple):
    """A comic as stored (or as a plan leaves it); an import remembers many of these."""

    title: str
    resource_uri: str
    local_edits: dict | None
    version: int


@dataclass(frozen=True)
class StoredCharacter:
    version: int
    local_edits: dict | None
    marvel_digest: str
    values: Mapping[str, object]  # CHARACTER_FIELDS as stored


@dataclass(frozen=True)
class Stored:
    """What the database holds of one page's records (the importer reads it)."""

    read_at: datetime  # also the created_at/updated_at of the rows the plan writes
    characters: Mapping[int, StoredCharacter]  # the page's stored characters, by id
    deleted_here: frozenset[int] = frozenset()  # tombstoned ids among the missing ones
    # The comics to compare that exist (see comics_to_compare), by id.
    comics: Mapping[int, StoredComic] = field(default_factory=dict)
    # Links of the stored characters compared in full: character id -> {comic id: link pk}.
    links: Mapping[int, Mapping[int, object]] = field(default_factory=dict)
    # Comics edited here; read only when some character is not compared in full.
    edited_comics: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Policy:
    overwrite_local_edits: bool = False
    # Whether a stored digest vouches for the row's links and comics: only when the page that
    # wrote it was all-or-nothing (a transaction), so not on a standalone mongod.
    trust_digests: bool = True


class Restored(NamedTuple):
    """A row given back to Marvel by ``overwrite_local_edits``: one admin log entry."""

    model: type
    id: int
    name: str
    groups: list[str]
    recreated: bool = False  # a character deleted here, created again


class KeptLocal(NamedTuple):
    """An upstream change held back: a group edited here (or a deletion) that Marvel changed."""

    model: type
    id: int
    group: str


class RowState(NamedTuple):
    """A row as a plan's write leaves it (updated_at None: not written by the plan's time)."""

    version: int
    updated_at: datetime | None
    marvel_digest: str | None = None


@dataclass
class Plan:
    comics: dict[int, StoredComic] = field(default_factory=dict)  # as they will be once written
    comics_new: list[Comic] = field(default_factory=list)
    comics_changed: list[Comic] = field(default_factory=list)
    characters_new: list[Character] = field(default_factory=list)
    characters_changed: list[Character] = field(default_factory=list)
    characters_unchanged: list[int] = field(default_factory=list)
    character_fields: list[str] = field(default_factory=list)  # written on characters_changed
    # Characters written for their digest or links alone: id -> row with the digest and version.
    digests: dict[int, Character] = field(default_factory=dict)
    # The versions read of the stored rows this plan writes (id -> version).
    character_versions: dict[int, int] = field(default_factory=dict)
    comic_versions: dict[int, int] = field(default_factory=dict)
    links_new: list[tuple[int, int]] = field(default_factory=list)  # (character id, comic id)
    links_gone: list[object] = field(default_factory=list)  # link pks
    tombstones_lifted: list[int] = field(default_factory=list)
    restored: list[Restored] = field(default_factory=list)
    kept_local: list[KeptLocal] = field(default_factory=list)
    uploads_dropped: list[str] = field(default_factory=list)  # sha256s, deleted once committed

    @property
    def has_writes(self) -> bool:
        """Whether the plan changes what pages show (digests alone do not)."""
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

    def counts(self) -> ImportStats:
        return ImportStats(
            characters_created=len(self.characters_new),
            characters_updated=len(self.characters_changed),
            characters_unchanged=len(self.characters_unchanged),
            comics_created=len(self.comics_new),
            comics_updated=len(self.comics_changed),
            links_created=len(self.links_new),
            links_deleted=len(self.links_gone),
            local_edits_kept=len(self.kept_local),
            local_edits_overwritten=len(self.restored),
        )

    def written(self) -> dict[type, dict[int, RowState]]:
        """{model: {id: the row's state once written}}: how to tell whether a write whose
        answer was lost was applied."""
        characters = {
            row.id: RowState(row.version, to_milliseconds(row.updated_at), row.marvel_digest)
            for row in (*self.characters_new, *self.characters_changed)
        }
        for pk, row in self.digests.items():
            characters[pk] = RowState(row.version, None, row.marvel_digest)
        comics = {
            row.id: RowState(row.version, to_milliseconds(row.updated_at))
            for row in (*self.comics_new, *self.comics_changed)
        }
        return {Character: characters, Comic: comics}

    def bump_version(self, character_id: int, version: int, digest: str) -> None:
        """A new version of a stored character whose fields stay as they are."""
        if character_id in self.character_versions:
            return  # written in full already
        self.character_versions[character_id] = version
        self.digests[character_id] = Character(
            id=character_id, marvel_digest=digest, version=version + 1
        )


def character_values(record: CharacterRecord) -> dict:
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
    digest and nothing edited here needs no comparison."""
    values = character_values(record)
    modified = to_milliseconds(record.modified)
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
        **character_values(record),
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


def is_as_stored(
    record: CharacterRecord, stored: StoredCharacter | None, policy: Policy, digest: str = ""
) -> bool:
    """Whether `record` is stored as an import of it leaves it, so need not be compared."""
    return (
        policy.trust_digests
        and stored is not None
        and not policy.overwrite_local_edits
        and not stored.local_edits
        and stored.marvel_digest == (digest or record_digest(record))
    )


def comics_to_compare(
    as_stored: Iterable[CharacterRecord],
    compared: Iterable[CharacterRecord],
    edited_comics: frozenset[int],
) -> dict[int, ComicRef]:
    """The comics of the characters compared in full, and the comics edited here of the
    others (each upstream value held back is counted, as when the character is compared)."""
    wanted = {comic.id: comic for r in as_stored for comic in r.comics if comic.id in edited_comics}
    wanted.update((comic.id, comic) for record in compared for comic in record.comics)
    return wanted


def plan(records: list[CharacterRecord], stored: Stored, policy: Policy) -> Plan:
    """The changes that make the database hold `records` (one per id), given `stored`."""
    return _Planner(stored, policy).plan(records)


class _Planner:
    """Drafts one Plan from one Stored."""

    def __init__(self, stored: Stored, policy: Policy) -> None:
        self.stored, self.policy, self.now = stored, policy, stored.read_at
        self.overwrite = policy.overwrite_local_edits
        self.draft = Plan()
        self.changed_fields: set[str] = set()

    def plan(self, records: list[CharacterRecord]) -> Plan:
        stored, draft = self.stored, self.draft
        digests = {record.id: record_digest(record) for record in records}
        as_stored, compared = [], []
        for record in records:
            same = is_as_stored(
                record, stored.characters.get(record.id), self.policy, digests[record.id]
            )
            (as_stored if same else compared).append(record)
        for comic_id, comic in comics_to_compare(as_stored, compared, stored.edited_comics).items():
            self.comic(comic, stored.comics.get(comic_id))
        draft.characters_unchanged.extend(record.id for record in as_stored)
        for record in compared:
            self.character(record, digests[record.id])
        draft.character_fields = [
            name
            for name in (*CHARACTER_FIELDS, "local_edits", "marvel_digest")
            if name in self.changed_fields
        ]
        return draft

    def comic(self, comic: ComicRef, stored: StoredComic | None) -> None:
        """A comic as Marvel has it, except for fields edited here (unless overwriting)."""
        draft = self.draft
        if stored is None:
            draft.comics[comic.id] = StoredComic(comic.title, comic.resource_uri, None, 1)
            draft.comics_new.append(comic_row(comic, self.now))
            return
        incoming = {"title": comic.title, "resource_uri": comic.resource_uri}
        current = {"title": stored.title, "resource_uri": stored.resource_uri}
        values, edits, _ = self.own(Comic, comic.id, incoming, current, stored.local_edits)
        if self.overwrite and stored.local_edits:
            draft.restored.append(
                Restored(Comic, comic.id, comic.title, sorted(stored.local_edits))
            )
        if (values, edits) == (current, stored.local_edits):
            draft.comics[comic.id] = stored
            return
        version = stored.version + 1
        draft.comics[comic.id] = StoredComic(
            values["title"], values["resource_uri"], edits, version
        )
        row = comic_row(comic, self.now)
        row.title, row.resource_uri = values["title"], values["resource_uri"]
        row.local_edits, row.version = edits, version
        draft.comic_versions[comic.id] = stored.version
        draft.comics_changed.append(row)

    def character(self, record: CharacterRecord, digest: str) -> None:
        draft = self.draft
        stored = self.stored.characters.get(record.id)
        if stored is None:
            if record.id in self.stored.deleted_here and not self.overwrite:
                draft.kept_local.append(KeptLocal(Character, record.id, DELETED_HERE))
                draft.characters_unchanged.append(record.id)
                return
            draft.characters_new.append(character_row(record, self.now, digest))
            if record.id in self.stored.deleted_here:
                draft.tombstones_lifted.append(record.id)
                restored = Restored(Character, record.id, record.name, [DELETED_HERE], True)
                draft.restored.append(restored)
            have: Mapping[int, object] = {}
        else:
            have = self.stored.links.get(record.id, {})
            if self.stored_character(record, digest, stored, have):
                return  # its links are kept as edited here
        want = [comic.id for comic in record.comics]
        new_links = [comic_id for comic_id in want if comic_id not in have]
        draft.links_new.extend((record.id, comic_id) for comic_id in new_links)
        keep = set(want)
        gone = [pk for comic_id, pk in have.items() if comic_id not in keep]
        draft.links_gone.extend(gone)
        if (new_links or gone) and stored is not None:
            # The links are part of the character: their change is a new version of it.
            draft.bump_version(record.id, stored.version, digest)

    def stored_character(
        self, record: CharacterRecord, digest: str, stored: StoredCharacter, have: Mapping
    ) -> bool:
        """Plan a stored character's fields; returns whether its links stay as they are.
        A new digest alone (the record changed only where an edit here holds, or a comic's
        title; a character stored before digests) is written without counting an update."""
        draft = self.draft
        incoming = character_values(record) | {"image_upload": None}
        current = _comparable(stored.values)
        values, edits, kept = self.own(
            Character,
            record.id,
            incoming | {"comics": [comic.id for comic in record.comics]},
            current | {"comics": list(have)},
            stored.local_edits,
        )
        values.pop("comics")
        if self.overwrite and stored.local_edits:
            groups = sorted(stored.local_edits)
            draft.restored.append(Restored(Character, record.id, values["name"], groups))
            if stored.values["image_upload"]:
                draft.uploads_dropped.append(stored.values["image_upload"])
        wanted = values | {"modified": to_milliseconds(values["modified"])}
        changed = [name for name in CHARACTER_FIELDS if wanted[name] != current[name]]
        if edits != stored.local_edits:
            changed.append("local_edits")
        new_digest = digest != stored.marvel_digest
        if changed:
            row = character_row(record, self.now, digest)
            for name, value in values.items():
                setattr(row, name, value)
            row.local_edits = edits
            row.version = stored.version + 1
            draft.character_versions[record.id] = stored.version
            draft.characters_changed.append(row)
            if new_digest:
                changed.append("marvel_digest")
        else:
            draft.characters_unchanged.append(record.id)
            if new_digest:
                draft.bump_version(record.id, stored.version, digest)
        self.changed_fields.update(changed)
        return "comics" in kept

    def own(self, model: type, row_id: int, incoming: dict, current: dict, edits: dict | None):
        """What to store of `incoming` for a row holding `current`, with `edits` (its
        local_edits): (values, the new local_edits, the groups kept local).

        Each edited group keeps its current (local) value, and its Marvel value becomes the
        incoming one; a group whose incoming value differs from the local one is an upstream
        change held back (listed in kept_local). A group Marvel now has the same as here
        follows Marvel again. Overwriting, Marvel's values win and the edits go.
        """
        if not edits or self.overwrite:
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
            self.draft.kept_local.append(KeptLocal(model, row_id, group))
            edits[group] = marvel[group]
        return values, edits or None, kept


def _comparable(values: Mapping[str, object]) -> dict:
    """Character field values as both backends round-trip them."""
    comparable = {name: values[name] for name in CHARACTER_FIELDS}
    comparable["modified"] = to_milliseconds(comparable["modified"])
    comparable["urls"] = list(comparable["urls"] or [])
    return comparable
