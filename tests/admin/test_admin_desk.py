"""The admin's changelists to work in: thumbnails that fall back to the placeholder, filters
for rows edited here and characters without comics, internal fields hidden; both backends."""

from pathlib import Path

import pytest
from django.contrib.admin.models import LogEntry

from characters import ownership
from characters.models import LOCAL_ID_START, Character, Comic
from tests.support.changelist import CHANGELIST, COMICS, result_names
from tests.support.page_data import make_character

pytestmark = pytest.mark.django_db

PLACEHOLDER = "/static/img/placeholder.svg"
STATIC = Path(__file__).resolve().parents[2] / "static"


@pytest.fixture
def catalogue(hulk):
    thor = make_character(1009664, "Thor", comics=[(40633, "Thor (2007) #1")], image=False)
    ghost = make_character(1011334, "Ghost Rider")
    ownership.note_edits(thor, {"description": ""}, {"description": "God of thunder"})
    ownership.note_edits(ghost, {"name": "Ghost Rider"}, {"name": "Ghost Rider!"})
    Character.objects.filter(pk=thor.pk).update(local_edits=thor.local_edits)
    Character.objects.filter(pk=ghost.pk).update(local_edits=ghost.local_edits)
    local = Character.objects.create(name="Desk Hero")
    return hulk, thor, ghost, local


def test_thumbnails_fall_back_to_the_placeholder(admin_client, catalogue):
    html = admin_client.get(CHANGELIST).content.decode()
    assert f'data-fallback="{PLACEHOLDER}"' in html
    # Thor has no image: the placeholder itself, not a dash.
    assert f'<img src="{PLACEHOLDER}"' in html
    assert "/static/js/site.js" in html  # swaps a thumbnail that fails to load


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ("?edited=any", ["Ghost Rider", "Thor"]),
        ("?edited=description", ["Thor"]),
        ("?edited=name", ["Ghost Rider"]),
        ("?edited=links", []),
        ("?edited=added", ["Desk Hero"]),
        ("?comics=none", ["Desk Hero", "Ghost Rider"]),
        ("?comics=none&edited=any", ["Ghost Rider"]),
    ],
)
def test_character_filters(admin_client, catalogue, params, names):
    response = admin_client.get(CHANGELIST + params)
    assert response.status_code == 200
    assert result_names(response) == names


def test_the_no_comics_filter_lists_its_own_rows_past_the_first_names(admin_client, catalogue):
    # A character without comics named after every other: a page of the first names by name
    # instead of the filter's rows would miss it.
    make_character(999_001, "Zz Last")
    assert result_names(admin_client.get(CHANGELIST + "?comics=none")) == [
        "Desk Hero",
        "Ghost Rider",
        "Zz Last",
    ]


def test_comic_filters_and_title_search(admin_client, catalogue):
    Comic.objects.filter(pk=40633).update(local_edits={"title": "Thor (2007) #1"})
    local = Comic.objects.create(title="Desk Special #1")
    assert local.pk >= LOCAL_ID_START
    edited = admin_client.get(COMICS + "?edited=title").content.decode()
    assert "Thor (2007) #1" in edited
    assert "Hulk (2008) #53" not in edited
    added = admin_client.get(COMICS + "?edited=added").content.decode()
    assert "Desk Special #1" in added
    assert "Thor (2007) #1" not in added
    found = admin_client.get(COMICS + "?q=hulk").content.decode()
    assert "Hulk (2008) #53" in found
    assert "Thor (2007) #1" not in found


def test_internal_fields_are_not_shown(admin_client, catalogue):
    hulk = catalogue[0]
    html = admin_client.get(f"{CHANGELIST}{hulk.pk}/change/").content.decode()
    for internal in ("random_key", "marvel_digest", "sort_name", "name_tokens", "version"):
        assert f"field-{internal}" not in html, internal
        assert f'name="{internal}"' not in html, internal
    assert str(hulk.random_key) not in html
    assert not LogEntry.objects.exists()


def test_the_site_is_named(admin_client):
    html = admin_client.get("/admin/").content.decode()
    assert "<title>Catalogue and imports | marvelsite admin</title>" in html
    assert "marvelsite administration" in html


def chooser(admin_client, term) -> list[str]:
    response = admin_client.get(
        "/admin/autocomplete/",
        {
            "app_label": "characters",
            "model_name": "character",
            "field_name": "comics",
            "term": term,
        },
    )
    assert response.status_code == 200
    return [r["text"] for r in response.json()["results"]]


def test_the_comic_chooser_searches_titles_by_prefix(admin_client, catalogue):
    Comic.objects.create(title="Hulk: Álter Ego (2011) #2")
    assert chooser(admin_client, "hulk") == ["Hulk (2008) #53", "Hulk: Álter Ego (2011) #2"]
    assert chooser(admin_client, "HULK alter") == ["Hulk: Álter Ego (2011) #2"]
    assert chooser(admin_client, "hulk 2008 5") == ["Hulk (2008) #53"]
    assert chooser(admin_client, "40633") == ["Thor (2007) #1"]
    assert chooser(admin_client, "ulk") == []  # the start of a title, not any part
    assert chooser(admin_client, "!!") == []


def test_chosen_comics_show_their_titles_in_full(admin_client, catalogue):
    hulk = catalogue[0]
    html = admin_client.get(f"{CHANGELIST}{hulk.pk}/change/").content.decode()
    assert 'data-ajax--url="/admin/autocomplete/"' in html  # a search, not a select box
    assert "/static/css/admin.css" in html
    assert ">Hulk (2008) #53</option>" in html
    css = (STATIC / "css" / "admin.css").read_text()
    assert "white-space: normal" in css
