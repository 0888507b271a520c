"""Rows for the page, admin and browser tests (test_views*.py, test_admin.py, test_browser.py)."""

import datetime as dt

from django.db import connection

from characters.models import Character, Comic

IMAGE_PATH = "http://i.annihil.us/u/prod/marvel/i/mg/5/a0/538615ca33ab0"
# The reads of what the links point at (a page's comic titles, a comic's cast): the links, then
# the rows they point at, on SQLite; one command on MongoDB (MongoStore.pairs_through and
# linked_rows).
LINKED_READS = 1 if connection.vendor == "mongodb" else 2
# A character page's reads: the character, its links, their titles; a comic page's: the
# comic, its links, its cast (one command each on MongoDB: MongoStore.by_pk_through and
# by_pk_linked_rows).
CHARACTER_READS = COMIC_READS = 1 if connection.vendor == "mongodb" else 3
# The home page's sample when its window wraps around the end of random_key: two windows on
# SQLite, one command on MongoDB (MongoStore.sample).
WRAPPED_SAMPLE_READS = 1 if connection.vendor == "mongodb" else 2


def rank_reads(reached: int) -> int:
    """The reads of a search page's rows that span `reached` ranks (or the oldest-first
    sort's two tiers): one per rank on SQLite, one command on MongoDB (MongoStore.windows)."""
    return 1 if connection.vendor == "mongodb" else reached


NOT_AVAILABLE_PATH = "http://i.annihil.us/u/prod/marvel/i/mg/b/40/image_not_available"


def make_character(id, name, *, comics=(), image=True, **fields) -> Character:
    """A character as the importer would store it; `comics` are Comic rows or (id, title) pairs."""
    fields.setdefault("description", f"{name} is a character made for the tests.")
    fields.setdefault("modified", dt.datetime(2014, 4, 29, 14, 18, 17, tzinfo=dt.UTC))
    fields.setdefault("comics_available", len(comics))
    fields.setdefault("urls", [{"type": "detail", "url": f"http://marvel.com/characters/{id}"}])
    character = Character.objects.create(
        id=id,
        name=name,
        thumbnail_path=IMAGE_PATH if image else NOT_AVAILABLE_PATH,
        thumbnail_extension="jpg",
        **fields,
    )
    rows = [c if isinstance(c, Comic) else Comic(id=c[0], title=c[1]) for c in comics]
    for comic in rows:
        if comic._state.adding:
            comic.save()
    if rows:
        character.comics.add(*rows)
    return character


def make_many(count, *, start_id=1, comics_each=0, comic_id_start=100_000):
    """`count` characters named "Hero 001".., each linked to `comics_each` shared comics,
    written with bulk_create (one through row per link)."""
    comics = Comic.objects.bulk_create(
        [Comic(id=comic_id_start + n, title=f"Comic {n:03d}") for n in range(comics_each)]
    )
    characters = Character.objects.bulk_create(
        [
            Character(
                id=start_id + n,
                name=f"Hero {n + 1:03d}",
                thumbnail_path=IMAGE_PATH if n % 2 == 0 else "",
                thumbnail_extension="jpg",
                comics_available=comics_each + n,
                modified=dt.datetime(2010, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=n),
            )
            for n in range(count)
        ]
    )
    through = Character.comics.through
    through.objects.bulk_create(
        [
            through(character_id=character.id, comic_id=comic.id)
            for character in characters
            for comic in comics
        ]
    )
    return characters
