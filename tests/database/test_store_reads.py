"""The store's own reads on MongoDB (characters/store/mongo.py): a pairs read takes all its
rows in one round trip, however many there are."""

import pytest

from characters.models import Character, CharacterComic, Comic
from tests.support.query_plans import RECORDER

pytestmark = [pytest.mark.django_db, pytest.mark.mongodb("pymongo's batches")]


def test_a_pairs_read_of_many_links_sends_no_get_more():
    Comic.objects.bulk_create([Comic(id=n, title=f"Comic {n}") for n in range(1, 11)])
    Character.objects.bulk_create([Character(id=n, name=f"Hero {n}") for n in range(1, 41)])
    CharacterComic.objects.bulk_create(
        [CharacterComic(character_id=c, comic_id=k) for c in range(1, 41) for k in range(1, 11)]
    )
    RECORDER.get_mores = []
    try:
        found = CharacterComic.objects.comic_ids_by_character(range(1, 41))
        asked_more = RECORDER.get_mores
    finally:
        RECORDER.get_mores = None
    assert sum(len(ids) for ids in found.values()) == 400  # beyond a default first batch
    assert "characters_character_comics" not in asked_more
