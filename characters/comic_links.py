"""Which comics each character appears in: Character.comics' link model, read and written
through its own indexes. A model of the characters app, imported by characters/models.py."""

from collections import defaultdict
from collections.abc import Iterable

from django.db import models

from characters import store
from characters.bookkeeping import CatalogueVersion


class LinkQuerySet(models.QuerySet):
    """The links read and written through their character_id and comic_id indexes, not the
    relation's managers: MongoDB answers those by joining every comic (or character) to the
    links, a collection scan. Called on the manager: CharacterComic.objects.using(db)."""

    def _pairs(self, field: str, values, key: str, value: str) -> list[tuple]:
        # The links' one fast read (pymongo on MongoDB): every method below reads through it.
        return store.for_alias(self.db).pairs(self.model, field, values, key, value)

    def comic_ids_by_character(self, character_ids) -> dict[int, list[int]]:
        """{character id: its comic ids, ascending}; a character with none is left out."""
        found = defaultdict(list)
        for character_id, comic_id in self._pairs(
            "character_id", character_ids, "character_id", "comic_id"
        ):
            found[character_id].append(comic_id)
        return {character_id: sorted(ids) for character_id, ids in found.items()}

    def replace(self, character, comic_ids) -> None:
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

    character = models.ForeignKey("Character", on_delete=models.CASCADE, related_name="+")
    comic = models.ForeignKey("Comic", on_delete=models.CASCADE, related_name="+")

    objects = LinkQuerySet.as_manager()

    class Meta:
        db_table = "characters_character_comics"
        unique_together = [("character", "comic")]
        verbose_name = "character's comic"

    def __str__(self):
        return f"character {self.character_id} in comic {self.comic_id}"
