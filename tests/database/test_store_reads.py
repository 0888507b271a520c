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


def through_the_links(character_ids, *, read_twice=False):
    """pairs_through as MongoStore reads it, or as the contract's two pairs() reads do."""
    from characters import store
    from characters.store.base import Store

    mongo = store.for_alias("default")
    args = (CharacterComic, "character_id", character_ids, "comic_id", Comic, "title")
    found = Store.pairs_through(mongo, *args) if read_twice else mongo.pairs_through(*args)
    return sorted(found)


def test_titles_through_the_links_come_in_one_command(django_assert_num_queries):
    Comic.objects.bulk_create([Comic(id=n, title=f"Comic {n}") for n in range(1, 6)])
    Character.objects.bulk_create([Character(id=n, name=f"Hero {n}") for n in range(1, 5)])
    links = [(1, 1), (1, 2), (2, 2), (2, 5), (3, 4)]
    CharacterComic.objects.bulk_create(
        [CharacterComic(character_id=c, comic_id=k) for c, k in links]
    )
    Comic.objects.filter(id=5).delete()  # its link is left out, as a join would
    with django_assert_num_queries(1):
        found = through_the_links([1, 2, 4, 9])
    assert found == [(1, 1, "Comic 1"), (1, 2, "Comic 2"), (2, 2, "Comic 2")]
    assert found == through_the_links([1, 2, 4, 9], read_twice=True)
    with django_assert_num_queries(0):
        assert through_the_links([]) == []
    with django_assert_num_queries(1):
        assert through_the_links([9]) == []


@pytest.mark.slow
def test_titles_past_what_one_document_holds_are_read_in_two_commands(
    django_assert_num_queries,
):
    # 24,000 titles of 700 bytes: past 16 MB gathered into one document.
    from django.db import connection

    count, title = 24_000, "t" * 700
    Character.objects.create(id=1, name="Everywhere")
    connection.ensure_connection()
    connection.get_collection(Comic._meta.db_table).insert_many(
        [{"id": n, "title": f"{title}{n}"} for n in range(1, count + 1)]
    )
    CharacterComic.objects.bulk_create(
        [CharacterComic(character_id=1, comic_id=n) for n in range(1, count + 1)], batch_size=5000
    )
    with django_assert_num_queries(2):  # the two reads (a refused command is not logged)
        found = through_the_links([1])
    assert len(found) == count
    assert found == through_the_links([1], read_twice=True)
    with django_assert_num_queries(3):  # the row, then the two reads
        character, titles = Character.objects.by_pk_with_comics(1)
    assert character.name == "Everywhere"
    assert sorted(titles) == [(comic_id, title) for _, comic_id, title in found]


def test_a_row_and_what_its_links_point_at_come_in_one_command(django_assert_num_queries):
    from characters import store
    from characters.store.base import Store

    Comic.objects.bulk_create([Comic(id=n, title=f"Comic {n}") for n in (1, 2, 3)])
    Character.objects.create(id=1, name="Hero", urls=[{"type": "wiki", "url": "https://x.test"}])
    Character.objects.create(id=2, name="Alone")
    CharacterComic.objects.bulk_create(
        [CharacterComic(character_id=1, comic_id=n) for n in (1, 2, 3)]
    )
    Comic.objects.filter(id=3).delete()  # its link is left out
    mongo = store.for_alias("default")
    args = (CharacterComic, "character_id", "comic_id", Comic, "title")
    for pk, titles in ((1, [(1, "Comic 1"), (2, "Comic 2")]), ("2", []), (9, [])):
        with django_assert_num_queries(1):
            found, pairs = mongo.by_pk_through(Character.objects.all(), pk, *args)
        assert sorted(pairs) == titles
        read_twice = Store.by_pk_through(mongo, Character.objects.all(), pk, *args)
        assert (found is None) is (read_twice[0] is None) is (pk == 9)
        if found is not None:
            assert field_values(found) == field_values(read_twice[0])
            assert field_values(found) == field_values(Character.objects.get(pk=pk))
    # A queryset with a filter of its own is read by the ORM, the filter kept.
    assert mongo.by_pk_through(Character.objects.filter(name="Other"), 1, *args) == (None, [])


def key_index_uses(model) -> int:
    """How many operations have used the index on `model`'s key column ($indexStats)."""
    from django.db import connection

    connection.ensure_connection()
    stats = connection.get_collection(model._meta.db_table).aggregate([{"$indexStats": {}}])
    key = model._meta.pk.column
    return sum(index["accesses"]["ops"] for index in stats if index["key"] == {key: 1})


def test_rows_through_the_links_are_the_orms_in_one_command(django_assert_num_queries):
    from characters import store

    Comic.objects.create(id=10, title="Issue #10")
    Character.objects.create(id=1, name="Hero", urls=[{"type": "wiki", "url": "https://x.test"}])
    Character.objects.create(id=2, name="Other", modified=None)
    Character.objects.create(id=3, name="Gone")
    CharacterComic.objects.bulk_create(
        [CharacterComic(character_id=c, comic_id=10) for c in (1, 2, 3)]
    )
    Character.objects.filter(id=3).delete()
    CharacterComic.objects.create(character_id=3, comic_id=10)  # a link to no row
    mongo = store.for_alias("default")
    uses = key_index_uses(Character)
    with django_assert_num_queries(1):
        found = mongo.linked_rows(CharacterComic, "comic_id", 10, "character_id", Character)
    # The rows are read through the key's index (explain reports no figures for a $lookup
    # joined with its $unwind, so the index's own counter tells).
    assert key_index_uses(Character) == uses + 1
    by_orm = Character.objects.filter(id__in=[1, 2])
    assert sorted(map(field_values, found), key=lambda row: row["id"]) == [
        field_values(row) for row in by_orm.order_by("id")
    ]
    assert mongo.linked_rows(CharacterComic, "comic_id", 11, "character_id", Character) == []


def test_a_row_and_the_rows_its_links_point_at_come_in_one_command(django_assert_num_queries):
    Comic.objects.create(id=10, title="Issue #10")
    Comic.objects.create(id=11, title="Nobody's")
    Character.objects.create(id=1, name="Hero", urls=[{"type": "wiki", "url": "https://x.test"}])
    Character.objects.create(id=2, name="Another", modified=None)
    CharacterComic.objects.bulk_create(
        [CharacterComic(character_id=c, comic_id=10) for c in (1, 2, 3)]  # 3: no such row
    )
    with django_assert_num_queries(1):
        comic, cast = Comic.objects.by_pk_with_cast(10)
    assert field_values(comic) == field_values(Comic.objects.get(pk=10))
    assert [field_values(c) for c in cast] == [
        field_values(c) for c in Character.objects.filter(id__in=[1, 2]).order_by("sort_name")
    ]
    with django_assert_num_queries(1):
        assert Comic.objects.by_pk_with_cast(11)[1] == []
    with django_assert_num_queries(1):
        assert Comic.objects.by_pk_with_cast(12) == (None, [])
    # A queryset with a filter of its own is read by the ORM (then the links), the filter kept.
    assert Comic.objects.filter(title="Other").by_pk_with_cast(10) == (None, [])
    assert Comic.objects.filter(title="Issue #10").by_pk_with_cast(10)[0].pk == 10


def test_a_windows_filter_and_sort_are_the_compilers():
    """MongoStore.window compiles only the filter where the ordering names plain fields: the
    $match and $sort equal what the backend's compiler makes, terms in order, for the
    querysets the pages read (search ranks, each sort's tiers, image filters, backwards reads,
    series, samples, a cast), each of which takes that path."""
    from characters.store.mongo import _plain_sort, match_and_sort

    def compiled(rows):
        compiler = rows.query.get_compiler(using=rows.db)
        compiler.pre_sql_setup()
        mql = compiler.build_query()
        return mql.match_mql, list(mql.ordering.items())

    characters = Character.objects.all()
    sets = [
        getattr(rows, "rows", rows)
        for text in ("man", "spider man", "hero 00", "a-b", "x")
        for _, rows, _ in characters.ranked_search(text).parts
    ]
    for sort in ("name", "-name", "modified", "-modified", "comics", "-comics"):
        for _, rows, _ in characters.tiers(sort).parts:
            sets += [rows, rows.with_image(), rows.without_image()]
    sets += [
        Comic.objects.filter(series_key="abc")
        .exclude(id=3)
        .order_by("series_key", "issue_order", "id"),
        characters.exclude(id__in=[1, 2]).order_by("random_key").filter(random_key__gte=0.5),
        characters.filter(pk__in=[1, 2]).order_by(),
        characters.order_by("sort_name", "id", "pk"),
        Comic.objects.all(),  # the model's own ordering
    ]
    sets += [rows.reverse() for rows in sets]
    for rows in sets:
        assert _plain_sort(rows.query) is not None, rows.query
        match, sort = match_and_sort(rows)
        assert (match, list(sort.items())) == compiled(rows), rows.query


def test_rows_that_need_more_than_a_match_are_read_by_the_orm():
    """A window of rows with a join, a subquery (the admin's "no comics" filter) or a sort
    through a relation is the ORM's read, not a $match that would miss its stages."""
    from django.db.models import Exists, OuterRef

    from characters import store
    from characters.store.mongo import match_and_sort

    Comic.objects.create(id=10, title="Issue #10")
    Character.objects.bulk_create(
        [Character(id=n, name=name) for n, name in enumerate(["Abe", "Bea", "Cy", "Zed"], 1)]
    )
    CharacterComic.objects.bulk_create(
        [CharacterComic(character_id=n, comic_id=10) for n in (1, 2)]
    )
    linked = CharacterComic.objects.filter(character_id=OuterRef("pk"))
    without_comics = Character.objects.filter(~Exists(linked)).order_by("sort_name", "id")
    in_the_comic = Character.objects.filter(comics__title="Issue #10").order_by("-sort_name")
    by_comic = CharacterComic.objects.order_by("comic", "character")
    for rows, names in ((without_comics, ["Cy", "Zed"]), (in_the_comic, ["Bea", "Abe"])):
        assert match_and_sort(rows) is None
        assert [c.name for c in rows.window(0, 10)] == names
    assert match_and_sort(by_comic) is None
    windowed = store.for_alias("default").window(by_comic, 0, 10)
    assert [link.character_id for link in windowed] == [1, 2]


def test_a_sample_is_drawn_from_both_windows_in_one_command(django_assert_num_queries):
    """MongoStore.sample: the window from the point on, then from the start when it falls
    short, and the server's draw of `count` of them, in one command; the contract's draw from
    the same rows."""
    from characters import store
    from characters.store.base import Store

    Character.objects.bulk_create(
        [Character(id=n, name=f"Hero {n}", random_key=n / 10) for n in range(1, 10)]
    )
    rows = Character.objects.exclude(id=5).order_by("random_key")
    mongo = store.for_alias("default")

    def windows(point):
        return rows.filter(random_key__gte=point), rows.filter(random_key__lt=point)

    # From 0.35: 4, 6, 7, 8, 9 (5 is left out), then wrapping around: 1.
    expected_window = {4, 6, 7, 8, 9, 1}
    seen = set()
    for _ in range(60):
        with django_assert_num_queries(1):
            drawn = [c.id for c in mongo.sample(*windows(0.35), 6, 2)]
        assert len(drawn) == len(set(drawn)) == 2
        assert set(drawn) <= expected_window
        seen |= set(drawn)
        contract = [c.id for c in Store.sample(mongo, *windows(0.35), 6, 2)]
        assert set(contract) <= expected_window
    assert seen == expected_window  # every row of the window is drawn sometimes
    # A window with all it needs from the point on never reads past it; more asked than there
    # are rows gives them all.
    assert {c.id for _ in range(30) for c in mongo.sample(*windows(0.15), 2, 2)} == {2, 3}
    assert sorted(c.id for c in mongo.sample(*windows(0.0), 20, 20)) == [1, 2, 3, 4, 6, 7, 8, 9]
    found = mongo.sample(*windows(0.35), 6, 1)[0]
    assert field_values(found) == field_values(Character.objects.get(pk=found.pk))


def test_a_pages_windows_of_several_parts_come_in_one_command(django_assert_num_queries):
    """MongoStore.windows: the windows of a search's ranks, and of the oldest-first tiers read
    from the end of the known dates, are the contract's (each part's own window) in one
    command; parts that share no ordering, or need the ORM, are read one by one."""
    import datetime as dt

    from django.db.models import Exists, OuterRef

    from characters import store
    from characters.store.base import Store

    names = ["Man", "Man-Thing", "Mandrill", "Manta", "Ant-Man", "Iron Man", "Spider-Man", "Bee"]
    day = dt.datetime(2010, 1, 1, tzinfo=dt.UTC)
    Character.objects.bulk_create(
        [
            Character(id=n, name=name, modified=None if n % 3 == 0 else day + dt.timedelta(n))
            for n, name in enumerate(names, 1)
        ]
    )
    mongo = store.for_alias("default")
    characters = Character.objects.all()

    ranks = characters.ranked_search("man")
    by_rank = ["Man", "Man-Thing", "Mandrill", "Manta", "Ant-Man", "Iron Man", "Spider-Man"]
    assert ranks.counts == [1, 3, 3]
    oldest_first = characters.tiers("modified")
    known = [c.name for c in characters.exclude(modified=None).order_by("modified", "id")]
    unknown = [c.name for c in characters.filter(modified=None).order_by("id")]
    assert oldest_first.counts == [len(known), len(unknown)]
    for tiers, expected in ((ranks, by_rank), (oldest_first, known + unknown)):
        for start in range(len(expected)):
            for stop in range(start + 1, len(expected) + 1):
                parts = tiers.parts_in(start, stop)
                with django_assert_num_queries(1):
                    found = mongo.windows(parts)
                assert [[c.name for c in rows] for rows in found] == [
                    [c.name for c in rows] for rows in Store.windows(mongo, parts)
                ]
                assert [c.name for rows in found for c in rows] == expected[start:stop]
                assert [c.name for c in tiers.window(start, stop)] == expected[start:stop]
    # The known dates' last two, read from the end of their index, then the unknown ones.
    parts = oldest_first.parts_in(len(known) - 2, len(known) + 1)
    assert parts[0][0].oriented(*parts[0][1:])[3]  # reversed
    found = mongo.windows(parts)
    assert [c.name for rows in found for c in rows] == known[-2:] + unknown[:1]
    assert field_values(found[0][0]) == field_values(Character.objects.get(name=known[-2]))

    # Two orderings, or a part the ORM must read (an anti-join): one read per part.
    by_name = characters.filter(id__lte=4).order_by("sort_name", "id")
    by_date = characters.filter(id__gt=4).order_by("modified", "id")
    linked = CharacterComic.objects.filter(character_id=OuterRef("pk"))
    no_comics = characters.filter(~Exists(linked), id__gt=4).order_by("sort_name", "id")
    for second in (by_date, no_comics):
        parts = [(by_name, 0, 4, 4), (second, 0, 4, 4)]
        with django_assert_num_queries(2):
            found = mongo.windows(parts)
        assert [[c.id for c in rows] for rows in found] == [
            [c.id for c in rows.window(0, 4)] for rows, *_ in parts
        ]
    # A search's ranks read forward, as their own window() does, whatever the count says.
    assert not any(rows.oriented(*window)[3] for rows, *window in ranks.parts_in(5, 7))
    # Parts that match nothing read nothing, and keep their places among the others.
    exact, words = ranks.parts[0][1], ranks.parts[2][1]
    nothing = [characters.none(), characters.filter(pk__in=[])]
    parts = [(exact, 0, 1, 1), *((rows, 0, 5, 5) for rows in nothing), (words, 1, 3, 3)]
    with django_assert_num_queries(1):
        found = mongo.windows(parts)
    names_by_part = [[c.name for c in rows] for rows in found]
    assert names_by_part == [["Man"], [], [], ["Iron Man", "Spider-Man"]]
    with django_assert_num_queries(0):
        assert mongo.windows([(rows, 0, 5, 5) for rows in nothing]) == [[], []]
