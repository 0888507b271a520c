"""The admin desk's filters and bulk actions on MongoDB: served by indexes (no collection
scan), at two catalogue sizes. MongoDB only, like tests/database/test_query_plans.py."""

from functools import partial

import pytest

from characters.models import Character, Comic
from tests.support.query_plans import (
    SIZES,
    assert_index_served,
    docs_examined,
    make_catalogue,
    with_plans,
)

pytestmark = [pytest.mark.django_db, pytest.mark.mongodb("query plans")]

FILTERS = [
    "/admin/characters/character/?edited=any",
    "/admin/characters/character/?edited=name",
    "/admin/characters/character/?edited=added",
    "/admin/characters/character/?has_image=uploaded",
    "/admin/characters/comic/?edited=any",
    "/admin/characters/comic/?edited=title",
]
CHOOSER = "/admin/autocomplete/?app_label=characters&model_name=character&field_name=comics&term="
SEARCHES = [
    CHOOSER + "comic 0001",
    CHOOSER + "COMIC",
    CHOOSER + "10001",
    "/admin/characters/comic/?q=comic 001",
    "/admin/characters/comic/?o=1",
    "/admin/characters/comic/?o=-1",
]
MOST_SEARCH_DOCS = 120  # a page of comics (or the chooser's 20) and their count's keys
MOST_EDITED_DOCS = 60  # a page of edited rows and their links, whatever the catalogue's size
NO_COMICS = "/admin/characters/character/?comics=none"


def assert_pages_index_served(client, urls, most_docs):
    for url in urls:
        response, plans = with_plans(partial(client.get, url))
        assert response.status_code == 200, url
        assert_index_served(url, plans)
        assert docs_examined(plans) <= most_docs, (url, docs_examined(plans))


@pytest.mark.parametrize("size", SIZES)
def test_the_desk_filters_are_index_served(size, admin_client):
    make_catalogue(size)
    Character.objects.filter(id__lte=3).update(local_edits={"name": "Marvel's"})
    Comic.objects.filter(id=100_001).update(local_edits={"title": "Marvel's"})
    Character.objects.filter(id__in=[2, 5]).update(image_upload="a" * 64)
    assert_pages_index_served(admin_client, FILTERS, MOST_EDITED_DOCS)


@pytest.mark.parametrize("size", SIZES)
def test_no_comics_reads_each_character_once_and_links_by_index(size, admin_client):
    # An anti-join: every character is read (that grows with the catalogue), twice (the count,
    # then the page, which the ORM reads: a $match alone would miss the subquery's $lookup),
    # but each one's links through the character_id index, never a scan of the links.
    make_catalogue(size)
    Character.comics.through.objects.filter(character_id__lte=4).delete()
    response, plans = with_plans(lambda: admin_client.get(NO_COMICS))
    assert response.status_code == 200
    assert "Hero 0004" in response.content.decode()
    assert "Hero 0005" not in response.content.decode()
    links = [plan for plan in plans if "characters_character_comics" in str(plan.command)]
    assert links
    for plan in links:
        assert all(scan.startswith("COLLSCAN at .stages[0].$cursor") for scan in plan.scans), (
            plan.scans
        )
    assert docs_examined(plans) <= 4 * size + 100


@pytest.mark.parametrize("size", SIZES)
def test_the_comic_chooser_and_title_search_are_index_served_and_flat(size, admin_client):
    make_catalogue(size)
    assert_pages_index_served(admin_client, SEARCHES, MOST_SEARCH_DOCS)
    found = admin_client.get(CHOOSER + "comic 0001").json()["results"]
    assert [r["text"] for r in found][:2] == ["Comic 00010", "Comic 00011"]


def test_reset_of_hundreds_of_rows_is_index_served(admin_client):
    # Each of the 300 rows read and written through the id index: about one document each.
    make_catalogue(SIZES[1])
    ids = list(range(1, 301))
    Character.objects.filter(id__in=ids).update(description="Ours", local_edits={"description": ""})
    form = {"action": "reset_to_marvel", "_selected_action": [str(pk) for pk in ids]}
    response, plans = with_plans(lambda: admin_client.post("/admin/characters/character/", form))
    assert response.status_code == 302
    assert_index_served("reset of 300 rows", plans)
    ours = [plan for plan in plans if plan.collection.startswith("characters_")]
    assert len(ours) <= 12, [plan.command for plan in ours]
    assert docs_examined(ours) <= 4 * len(ids), docs_examined(ours)
    assert not Character.objects.filter(description="Ours").exists()
