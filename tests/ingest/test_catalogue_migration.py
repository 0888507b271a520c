"""The catalogue-search migration fills the new fields of rows stored before it, and the
token index answers for them at once, on both backends."""

import pytest
from django.core.management import call_command
from django.db import connection

from characters.models import Character, Comic
from characters.search import name_tokens

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = "0007_row_versions"
AFTER = "0008_catalogue_search"


def test_rows_stored_before_get_their_sort_key_tokens_and_series(client):
    call_command("migrate", "characters", BEFORE, verbosity=0)
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "mongodb":
                db = connection.database
                db["characters_character"].insert_many(
                    [
                        {"id": 1, "name": "Spider-Man (Peter Parker)", "random_key": 0.1},
                        {"id": 2, "name": "pug", "random_key": 0.2},
                    ]
                )
                db["characters_comic"].insert_one({"id": 10, "title": "Avengers (1963) #1"})
            else:
                for pk, name in [(1, "Spider-Man (Peter Parker)"), (2, "pug")]:
                    cursor.execute(
                        "INSERT INTO characters_character (id, name, description, "
                        "thumbnail_path, thumbnail_extension, resource_uri, comics_available, "
                        "urls, random_key, created_at, updated_at, version) VALUES "
                        "(%s, %s, '', '', '', '', 0, '[]', 0.5, '2020-01-01', '2020-01-01', 1)",
                        [pk, name],
                    )
                cursor.execute(
                    "INSERT INTO characters_comic (id, title, resource_uri, created_at, "
                    "updated_at, version) VALUES "
                    "(10, 'Avengers (1963) #1', '', '2020-01-01', '2020-01-01', 1)"
                )
    finally:
        call_command("migrate", "characters", verbosity=0)
    spider = Character.objects.get(id=1)
    assert spider.sort_name == "spider man peter parker"
    assert spider.name_tokens == name_tokens("Spider-Man (Peter Parker)")
    comic = Comic.objects.get(id=10)
    assert (comic.series, comic.series_year, comic.issue_number) == ("Avengers", 1963, "1")
    assert comic.series_key == "avengers 1963"
    assert list(Character.objects.search("spiderman").values_list("id", flat=True)) == [1]
    assert list(Character.objects.ordered("name").values_list("name", flat=True)) == [
        "pug",
        "Spider-Man (Peter Parker)",
    ]
