"""Character and Comic: the same models and migrations on SQLite and MongoDB."""

import pytest
from django.core.management import call_command
from django.core.paginator import EmptyPage
from django.db import DEFAULT_DB_ALIAS

from characters import store
from characters.models import LOCAL_ID_START, Character, Comic
from characters.paging import IndexedPaginator
from marvelsite.transactions import atomic

pytestmark = pytest.mark.django_db


@pytest.fixture
def hulk():
    character = Character.objects.create(
        id=1009351,
        name="Hulk",
        thumbnail_path="http://i.annihil.us/u/prod/marvel/i/mg/5/a0/538615ca33ab0",
        thumbnail_extension="jpg",
        comics_available=1700,
        urls=[{"type": "detail", "url": "http://marvel.com/characters/25/hulk"}],
    )
    character.comics.add(
        Comic.objects.create(id=40632, title="Hulk (2008) #53"),
        Comic.objects.create(id=40630, title="Hulk (2008) #54"),
    )
    return character


def test_no_model_change_lacks_a_migration():
    # The same check on both backends proves one migration set serves both.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_marvel_ids_are_the_primary_keys(hulk):
    stored = Character.objects.get(pk=1009351)
    assert stored.name == "Hulk"
    assert stored.urls == [{"type": "detail", "url": "http://marvel.com/characters/25/hulk"}]
    assert Comic.objects.get(pk=40632).title == "Hulk (2008) #53"


def test_many_to_many_both_ways(hulk):
    assert sorted(hulk.comics.values_list("id", flat=True)) == [40630, 40632]
    comic = Comic.objects.get(pk=40630)
    assert list(comic.characters.all()) == [hulk]
    other = Character.objects.create(id=1009610, name="Spider-Man")
    comic.characters.add(other)
    assert sorted(comic.characters.values_list("name", flat=True)) == ["Hulk", "Spider-Man"]
    hulk.comics.remove(comic)
    assert list(comic.characters.all()) == [other]
    assert Character.comics.through.objects.count() == 2


def test_store_pairs_reads_what_values_list_reads(hulk, django_assert_num_queries):
    # On MongoDB through pymongo (characters.store.mongo): same rows, one counted query.
    link = Character.comics.through
    other = Character.objects.create(id=1009610, name="Spider-Man")
    other.comics.add(40630)
    ids = [1009351, 1009610, 5]  # 5: no such character
    with django_assert_num_queries(1):
        pairs = store.for_alias(DEFAULT_DB_ALIAS).pairs(
            link, "character_id", iter(ids), "character_id", "comic_id"
        )
    expected = link.objects.filter(character_id__in=ids).values_list("character_id", "comic_id")
    assert (
        sorted(pairs) == sorted(expected) == [(1009351, 40630), (1009351, 40632), (1009610, 40630)]
    )
    titles = store.for_alias(DEFAULT_DB_ALIAS).pairs(Comic, "id", {40632, 1}, "id", "title")
    assert titles == [(40632, "Hulk (2008) #53")]
    with django_assert_num_queries(0):  # nothing to look for: no query, as the ORM
        assert store.for_alias(DEFAULT_DB_ALIAS).pairs(Comic, "id", [], "id", "title") == []


def test_a_comics_cast_is_read_by_name(hulk):
    comic = Comic.objects.get(pk=40630)
    Character.objects.create(id=1009610, name="abomination").comics.add(comic)
    Character.objects.create(id=1009611, name="Zed")
    assert [c.name for c in comic.cast()] == ["abomination", "Hulk"]
    assert Comic.objects.create(id=1, title="Nobody").cast() == []


def test_new_character_gets_an_id_outside_marvels_range(hulk):
    first = Character.objects.create(name="Made here")
    second = Character(name="Made here too")
    second.save()
    assert first.id == LOCAL_ID_START
    assert second.id == LOCAL_ID_START + 1
    assert Comic.objects.create(title="A local comic").id == LOCAL_ID_START


def test_auto_id_does_not_touch_given_ids():
    assert Character.objects.create(id=5, name="Given").id == 5
    assert Character.objects.create(name="Auto").id == LOCAL_ID_START


def test_search_is_case_insensitive_and_literal(hulk):
    Character.objects.create(id=1, name="Spider-Man (Ultimate)")
    Character.objects.create(id=2, name="S.H.I.E.L.D.")
    assert [c.name for c in Character.objects.search("hUL")] == ["Hulk"]
    assert [c.name for c in Character.objects.search("(ultimate)")] == ["Spider-Man (Ultimate)"]
    # Regular-expression and SQL metacharacters match themselves only.
    assert list(Character.objects.search(".*")) == []
    assert list(Character.objects.search("%")) == []
    assert [c.name for c in Character.objects.search("S.H")] == ["S.H.I.E.L.D."]
    assert Character.objects.search("  ").count() == 3


def test_with_image_excludes_missing_and_placeholder_images(hulk):
    Character.objects.create(id=1, name="No path")
    Character.objects.create(
        id=2,
        name="Placeholder",
        thumbnail_path="http://i.annihil.us/u/prod/marvel/i/mg/b/40/image_not_available",
        thumbnail_extension="jpg",
    )
    assert [c.name for c in Character.objects.with_image()] == ["Hulk"]
    assert not Character.objects.get(pk=2).has_image


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["A", "B", "C"]),
        ("-name", ["C", "B", "A"]),
        ("comics", ["B", "C", "A"]),
        ("-comics", ["A", "C", "B"]),
        ("modified", ["C", "A", "B"]),
        ("-modified", ["B", "A", "C"]),
    ],
)
def test_ordered(sort, expected):
    Character.objects.create(id=1, name="A", comics_available=9, modified="2014-01-01T00:00Z")
    Character.objects.create(id=2, name="B", comics_available=1, modified="2020-01-01T00:00Z")
    Character.objects.create(id=3, name="C", comics_available=5, modified="2010-01-01T00:00Z")
    assert [c.name for c in Character.objects.ordered(sort)] == expected


def test_ordered_refuses_unknown_sorts():
    with pytest.raises(ValueError, match="unknown sort"):
        Character.objects.ordered("password")


def test_sample_returns_distinct_characters_and_honours_exclusions():
    for number in range(1, 21):
        Character.objects.create(id=number, name=f"C{number}")
    picked = Character.objects.sample(6, exclude_ids=[1, 2, 3])
    ids = [c.id for c in picked]
    assert len(ids) == 6
    assert len(set(ids)) == 6
    assert not {1, 2, 3} & set(ids)
    assert len(Character.objects.sample(6, exclude_ids=range(1, 18))) == 3
    assert Character.objects.none().sample(6) == []


def test_sample_reaches_every_character():
    # Evenly spread keys give each character a 1/8 chance a draw: missing one in 200 draws
    # has a probability of about 1e-11.
    for number in range(1, 9):
        Character.objects.create(id=number, name=f"C{number}", random_key=(number - 0.5) / 8)
    seen = set()
    for _ in range(200):
        seen.update(c.id for c in Character.objects.sample(1))
    assert seen == set(range(1, 9))


def test_sample_costs_at_most_two_queries(django_assert_max_num_queries):
    for number in range(1, 30):
        Character.objects.create(id=number, name=f"C{number}")
    with django_assert_max_num_queries(2):
        assert len(Character.objects.sample(6)) == 6


def test_image_url_and_canonical_url(hulk):
    assert hulk.image_url("standard_xlarge") == (
        "https://i.annihil.us/u/prod/marvel/i/mg/5/a0/538615ca33ab0/standard_xlarge.jpg"
    )
    assert hulk.slug == "hulk"
    assert hulk.get_absolute_url().startswith("/characters/1009351/hulk")
    assert Character(name="???").slug == "character"


# --- IndexedPaginator: a bounded page range; counts ------------------------------------------


@pytest.fixture
def fifty():
    Character.objects.bulk_create(Character(id=n, name=f"C{n:03d}") for n in range(1, 51))


def test_the_paginator_serves_max_pages_and_says_the_list_is_longer(fifty):
    rows = Character.objects.ordered("name")
    paginator = IndexedPaginator(rows, 7, max_pages=3)
    assert (paginator.count, paginator.num_pages, paginator.truncated) == (50, 3, True)
    assert list(paginator.page_range) == [1, 2, 3]
    last = paginator.page(3)
    assert [c.name for c in last] == [f"C{n:03d}" for n in range(15, 22)]
    assert (last.start_index(), last.end_index(), last.has_next()) == (15, 21, False)
    with pytest.raises(EmptyPage):
        paginator.page(4)
    assert paginator.get_page(99).number == 3  # what the list view asks for a deep page


def test_a_list_within_the_bound_pages_as_django_does(fifty):
    rows = Character.objects.ordered("-name")
    paginator = IndexedPaginator(rows, 7, orphans=2)
    assert (paginator.num_pages, paginator.truncated) == (7, False)
    last = paginator.page(7)
    assert [c.name for c in last] == [f"C{n:03d}" for n in range(8, 0, -1)]  # 2 orphans kept
    assert (last.start_index(), last.end_index()) == (43, 50)
    assert IndexedPaginator(Character.objects.none(), 7).page(1).end_index() == 0


def test_counts_with_and_without_a_filter(fifty, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert Character.objects.count() == 50
    with django_assert_num_queries(1):
        assert Character.objects.search("C04").count() == 10
    Character.objects.filter(id__gt=40).delete()
    assert Character.objects.count() == Character.objects.all()[:100].count() == 40


def test_a_count_inside_a_transaction(fifty):
    with atomic(DEFAULT_DB_ALIAS):
        assert Character.objects.count() == 50
