"""The named link model, CharacterComic: the table the implicit one had, read and written
through its indexes (LinkQuerySet), on both backends."""

import pytest
from django.core import checks
from django.core.management import call_command
from django.db import IntegrityError, connection

from characters.models import CatalogueVersion, Character, CharacterComic, Comic
from marvelsite.transactions import atomic

pytestmark = pytest.mark.django_db


@pytest.fixture
def linked():
    """Three characters: two share a comic, one has none; comic 13 is in nobody's list."""
    comics = [Comic.objects.create(id=pk, title=f"Comic {pk}") for pk in (10, 11, 12, 13)]
    thor, loki, odin = (
        Character.objects.create(id=pk, name=name)
        for pk, name in [(1, "Thor"), (2, "Loki"), (3, "Odin")]
    )
    thor.comics.add(comics[2], comics[0])
    loki.comics.add(comics[0], comics[1])
    return thor, loki, odin


def token() -> str:
    """The catalogue version: every bump makes a new one."""
    return CatalogueVersion.objects.get(id=1).token


def test_the_relation_goes_through_the_named_model():
    assert Character.comics.through is CharacterComic
    assert Comic.characters.rel.through is CharacterComic
    assert CharacterComic._meta.db_table == "characters_character_comics"


def test_reads_by_either_side(linked, django_assert_num_queries):
    thor, loki, odin = linked
    links = CharacterComic.objects
    with django_assert_num_queries(1):
        found = links.comic_ids_by_character([thor.pk, loki.pk, odin.pk, 99])
    assert found == {1: [10, 12], 2: [10, 11]}  # ascending; none for Odin or an unknown id
    with django_assert_num_queries(0):  # nothing asked: nothing read
        assert links.comic_ids_by_character([]) == {}
    assert thor.comic_ids() == [10, 12]
    assert odin.comic_ids() == []
    comics = {pk: Comic.objects.get(pk=pk) for pk in (10, 11, 13)}
    # The cast: the links, then the characters (one command on MongoDB).
    with django_assert_num_queries(1 if connection.vendor == "mongodb" else 2):
        assert [c.name for c in comics[10].cast()] == ["Loki", "Thor"]
    assert [c.name for c in comics[11].cast()] == ["Loki"]
    with django_assert_num_queries(1):  # no link: the links read alone
        assert comics[13].cast() == []


def test_replace_links_exactly_these_and_bumps_only_on_a_change(linked):
    thor, loki, _ = linked
    CatalogueVersion.bump()
    first = token()
    CharacterComic.objects.replace(thor, [12, 12, 13])  # one kept, one gone, one new
    assert thor.comic_ids() == [12, 13]
    assert loki.comic_ids() == [10, 11]  # another character's links untouched
    second = token()
    assert second != first
    CharacterComic.objects.replace(thor, [13, 12])  # the same comics: no write, no bump
    assert token() == second
    thor.set_comic_ids([])  # the model's own door to it
    assert thor.comic_ids() == []
    assert token() != second


def test_replace_many_writes_each_character_at_once(linked, django_assert_num_queries):
    thor, loki, odin = linked
    with django_assert_num_queries(3):  # read the links, delete the gone ones, insert the new
        changed = CharacterComic.objects.replace_many({1: {10}, 2: {10, 11, 13}, 3: {12}})
    assert changed
    found = CharacterComic.objects.comic_ids_by_character([1, 2, 3])
    assert found == {1: [10], 2: [10, 11, 13], 3: [12]}
    with django_assert_num_queries(1):  # as they are: read only
        assert not CharacterComic.objects.replace_many({1: [10], 3: [12]})


def test_the_relation_api_still_bumps_the_version(linked):
    # m2m_changed's sender is the named model: page_cache's receiver still hears it.
    thor, _, _ = linked
    CatalogueVersion.bump()
    first = token()
    thor.comics.remove(Comic.objects.get(pk=12))
    second = token()
    assert second != first
    thor.comics.add(Comic.objects.get(pk=13))
    assert token() != second
    assert thor.comic_ids() == [10, 13]


def test_a_link_is_stored_once(linked):
    with pytest.raises(IntegrityError), atomic(connection.alias):
        CharacterComic.objects.create(character_id=1, comic_id=10)
    assert CharacterComic.objects.filter(character_id=1, comic_id=10).count() == 1


def test_the_admin_accepts_the_comics_field():
    # Django refuses (admin.E013) an explicit link model in a form's fields, unless ours.
    errors = [error.id for error in checks.run_checks(tags=[checks.Tags.admin])]
    assert errors == []


def test_the_admin_still_chooses_comics_by_autocomplete(admin_client, linked):
    page = admin_client.get("/admin/characters/character/1/change/").content.decode()
    assert 'name="comics"' in page
    assert "admin-autocomplete" in page
    assert '<option value="12" selected>Comic 12</option>' in page


@pytest.mark.django_db(transaction=True)
def test_migrating_to_the_named_model_moves_no_row(linked):
    stored = sorted(CharacterComic.objects.values_list("character_id", "comic_id"))
    call_command("migrate", "characters", "0010_import_run", verbosity=0)
    try:
        if connection.vendor == "mongodb":
            table = connection.database[CharacterComic._meta.db_table]
            before = sorted((row["character_id"], row["comic_id"]) for row in table.find())
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT character_id, comic_id FROM characters_character_comics")
                before = sorted(cursor.fetchall())
        assert before == stored  # the implicit model's table, as it was
    finally:
        call_command("migrate", "characters", verbosity=0)
    assert sorted(CharacterComic.objects.values_list("character_id", "comic_id")) == stored
