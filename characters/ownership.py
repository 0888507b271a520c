"""Who owns a catalogue row's fields: Marvel, until an editor changes them here.

The policy (docs/ownership.md), for characters and comics:
- a field group changed in the admin (a character's name, description, image, links or
  comics; a comic's title or resource URI) is owned here from then on: imports keep the local
  value and only note Marvel's latest one (`local_edits`); groups nobody touched follow Marvel;
- a Marvel character deleted in the admin leaves a tombstone (DeletedCharacter): imports do
  not re-create it. Marvel comics are not deleted in the admin (any character listing one
  would bring it back): remove them from characters instead;
- a row added here (a local id) is never touched by imports;
- giving a row back to Marvel is explicit: the admin action "Reset to Marvel's data" (here,
  `reset_to_marvel`) or `seed_marvel --overwrite-local-edits`; both leave an admin LogEntry.

`local_edits` maps each edited group to Marvel's value of it (one field's value, or a list of
the group's values; comics: the sorted comic ids), so a reset needs no trip to Marvel; it is
None when nothing is edited here.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from django.utils import timezone

from characters import images
from characters.models import (
    CatalogueVersion,
    Character,
    CharacterComic,
    Comic,
    DeletedCharacter,
    LocalIdModel,
    RowChanged,
)
from marvelsite.transactions import atomic


def group_values(row_type: type[LocalIdModel], values: Mapping[str, Any]) -> dict[str, Any]:
    """Each editable group's value, from field values (groups missing from `values` left out).

    Comics may be given as Comic rows or ids; they come back as sorted ids.
    """
    groups = {}
    for group, fields in row_type.EDITABLE.items():
        if not all(field in values for field in fields):
            continue
        parts = [_plain(field, values[field]) for field in fields]
        groups[group] = parts[0] if len(parts) == 1 else parts
    return groups


def _plain(field: str, value: Any) -> Any:
    if field == "comics":
        return sorted(getattr(comic, "pk", comic) for comic in value or ())
    if field == "urls":
        return list(value or [])
    return value


def fields_of_groups(row_type: type[LocalIdModel], fields: Iterable[str]) -> list[str]:
    """Every field of the editable groups that `fields` touch ("image" is two fields)."""
    fields = set(fields)
    return [
        field
        for group_fields in row_type.EDITABLE.values()
        if fields & set(group_fields)
        for field in group_fields
    ]


def note_edits(row: LocalIdModel, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    """Record on `row.local_edits` the groups an edit changed (from field values `before` to
    `after`), with Marvel's value, taken the first time a group is edited: `before` then holds
    Marvel's value. A group edited back to Marvel's value follows Marvel again. Rows added here
    own everything already: nothing to note."""
    if row.is_local:
        return
    old, new = group_values(type(row), before), group_values(type(row), after)
    edits = dict(row.local_edits or {})
    for group, value in new.items():
        if group not in edits and group in old and value != old[group]:
            edits[group] = old[group]
        if group in edits and value == edits[group]:
            del edits[group]
    row.local_edits = edits or None


def values_groups(row: LocalIdModel) -> list[str]:
    """`row`'s locally edited groups that are still editable."""
    return [group for group in row.local_edits or {} if group in type(row).EDITABLE]


def marvel_values(row: LocalIdModel) -> dict[str, Any]:
    """Field values Marvel has for `row`'s locally edited groups."""
    values = {}
    for group in values_groups(row):
        fields, value = type(row).EDITABLE[group], row.local_edits[group]
        value = [value] if len(fields) == 1 else list(value)
        # A group that gained a field since it was noted: Marvel has none of the new field
        # (the image's upload).
        value += [None] * (len(fields) - len(value))
        values |= dict(zip(fields, value, strict=True))
    return values


def reset_to_marvel(row: LocalIdModel) -> list[str]:
    """Give every locally edited group of `row` back to Marvel: its latest known Marvel value
    now, and imports update it again. Returns the groups reset (none: nothing written)."""
    groups = sorted(row.local_edits or {})
    if not groups:
        return []
    values = marvel_values(row)
    comic_ids = values.pop("comics", None)
    # An editor's uploaded image goes with the "image" group (Marvel has none): its files too.
    dropped_upload = getattr(row, "image_upload", None) if "image" in values_groups(row) else None
    for field, value in values.items():
        setattr(row, field, value)
    row.local_edits = None
    db = row._state.db
    row.updated_at = timezone.now()
    with atomic(db):
        # Only over the row as read: an import or an editor that wrote it since wins, and the
        # admin runs the action again from its reads (characters/admin.py).
        row.save_if_version([*values, "local_edits", "updated_at"], using=db)
        CatalogueVersion.bump(using=db)
        images.delete_when_unused(dropped_upload, db)
        if comic_ids is not None:
            # Only comics that still exist (a local comic may have been deleted since).
            existing = Comic.objects.using(db).filter(id__in=comic_ids).values_list("id", flat=True)
            row.set_comic_ids(existing)
    return groups


def reset_many_to_marvel(rows: Iterable[LocalIdModel]) -> list[tuple[LocalIdModel, list[str]]]:
    """`reset_to_marvel` for many rows of one model in a bounded number of queries, however
    many: a version check and one write per batch of rows and, for characters' comics, one read
    of their links, one read of the comics, one delete and one insert. Each row reset with its
    groups; rows edited nowhere are left alone.

    Run it in the transaction that read `rows` (the admin's action): a row written by someone
    else since raises RowChanged (or, on MongoDB, a write conflict) and the admin runs the
    action again from its reads.
    """
    rows = [row for row in rows if row.local_edits]
    if not rows:
        return []
    model, db, now = type(rows[0]), rows[0]._state.db, timezone.now()
    fields, wanted, reset = {"local_edits", "updated_at", "version"}, {}, []
    # Uploaded images go with the "image" group (Marvel has none): their files too, if unused.
    dropped_uploads = {
        row.image_upload
        for row in rows
        if "image" in values_groups(row) and getattr(row, "image_upload", None)
    }
    for row in rows:
        reset.append((row, sorted(row.local_edits)))
        values = marvel_values(row)
        if (comic_ids := values.pop("comics", None)) is not None:
            wanted[row.pk] = set(comic_ids)
        for field, value in values.items():
            setattr(row, field, value)
        fields.update(values)
        row.local_edits, row.updated_at = None, now
    with atomic(db):
        rows_now = model._default_manager.using(db).filter(pk__in=[row.pk for row in rows])
        versions = dict(rows_now.values_list("pk", "version"))
        if changed := [row.pk for row in rows if versions.get(row.pk) != row.version]:
            raise RowChanged(f"{model._meta.verbose_name} {changed[0]} changed since it was read")
        for row in rows:
            row.version += 1
        model._default_manager.using(db).bulk_update(rows, sorted(fields))
        if wanted:
            _set_many_comic_ids(db, wanted)
        CatalogueVersion.bump(using=db)
        for upload in sorted(dropped_uploads):
            images.delete_when_unused(upload, db)
    return reset


def _set_many_comic_ids(db: str, wanted: dict[int, set[int]]) -> None:
    """Link each character (key) to exactly these comics (value) that still exist."""
    every = set().union(*wanted.values())
    existing = set(Comic.objects.using(db).filter(id__in=every).values_list("id", flat=True))
    links = CharacterComic.objects.using(db)
    links.replace_many({character_id: ids & existing for character_id, ids in wanted.items()})


def delete_characters(characters: Iterable[Character]) -> list[DeletedCharacter]:
    """Delete characters, leaving a tombstone for each of Marvel's: imports will not re-create
    them. Returns the tombstones made."""
    characters = list(characters)
    if not characters:
        return []
    db = characters[0]._state.db
    marvels = {c.pk: c.name for c in characters if not c.is_local}
    now = timezone.now()
    with atomic(db):
        tombstones = DeletedCharacter.objects.using(db)
        already = set(tombstones.filter(id__in=list(marvels)).values_list("id", flat=True))
        new = [
            DeletedCharacter(id=pk, name=name, deleted_at=now)
            for pk, name in marvels.items()
            if pk not in already
        ]
        made = tombstones.bulk_create(new) if new else []
        Character.objects.using(db).filter(pk__in=[c.pk for c in characters]).delete()
    return made
