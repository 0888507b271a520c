"""The store's own reads on MongoDB (characters/store/mongo.py): a pairs read takes all its
rows in one round trip, however many there are; a window's rows are the ORM's."""

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


def field_values(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_a_window_makes_the_same_instances_as_the_orm():
    """MongoStore.window makes its instances from pymongo's documents: every field as the
    ORM's own read has it (JSON values, aware datetimes, nulls), each row saved again as is."""
    hero = Character.objects.create(
        id=1,
        name="Hero",
        urls=[{"type": "wiki", "url": "https://example.com/hero"}],
        local_edits={"name": "2026-12-04T19:00:00+00:00"},
    )
    Character.objects.create(id=2, name="Another", modified=None)
    Comic.objects.create(id=3, title="Issue #1", series_year=None)
    for rows in (Character.objects.order_by("sort_name", "id"), Comic.objects.order_by("id")):
        windowed, read = rows.window(0, 10), list(rows)
        assert [field_values(i) for i in windowed] == [field_values(i) for i in read]
        assert all(not i._state.adding and i._state.db == "default" for i in windowed)
    found = Character.objects.order_by("id").window(0, 1)[0]
    assert found.created_at.tzinfo is not None
    assert found.name_tokens
    found.save()  # compare-and-swap on the version read
    hero.refresh_from_db()
    assert hero.version == found.version
    assert hero.urls == found.urls


def test_a_row_by_its_key_is_the_orms():
    Character.objects.create(id=1, name="Hero", urls=[{"type": "wiki", "url": "https://x.test"}])
    Comic.objects.create(id=3, title="Issue #1")
    for model, pk in ((Character, 1), (Comic, 3)):
        found = model.objects.by_pk(pk)
        assert field_values(found) == field_values(model.objects.get(pk=pk))
        assert not found._state.adding
    assert Character.objects.by_pk(2) is None
    # A queryset's own filter is kept (read through the ORM).
    assert Character.objects.filter(name="Villain").by_pk(1) is None
    assert Character.objects.filter(name="Hero").by_pk(1).name == "Hero"
