"""Public pages: status codes, content, canonical URLs, the featured reload, 404/500/503."""

import re

import pytest
from django.db import IntegrityError, OperationalError
from django.template.loader import render_to_string

from characters.models import Character, Comic
from characters.paging import IndexedPaginator
from tests.support.html import missing
from tests.support.page_data import IMAGE_PATH, make_character, make_many
from tests.support.unreachable import database_unreachable

pytestmark = pytest.mark.django_db

ATTRIBUTION = "Data provided by Marvel. © 2022 MARVEL"


def card_ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'data-character-id="(\d+)"', response.content.decode())]


def featured_ids_param(response) -> str:
    return re.search(r'name="ids" value="([0-9,]*)"', response.content.decode()).group(1)


def assert_attribution(response):
    html = response.content.decode()
    assert ATTRIBUTION in html
    assert re.search(r'<a href="https://marvel\.com"[^>]*>Data provided by Marvel', html)


@pytest.fixture
def hulk():
    return make_character(
        1009351,
        "Hulk",
        comics=[(40632, "Hulk (2008) #53"), (40630, "Hulk (2008) #54")],
        comics_available=1700,
        urls=[
            {"type": "detail", "url": "http://marvel.com/characters/25/hulk"},
            {"type": "wiki", "url": "javascript:alert(1)"},
        ],
    )


# --- empty database -------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/characters/"])
def test_empty_database_is_a_friendly_page(client, url):
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "No characters yet" in html
    assert "python manage.py seed_marvel" in html


# --- home and the per-card reload -----------------------------------------------------------


def test_home_features_six_random_cards_with_comics_and_links(client):
    make_many(10, comics_each=5)
    response = client.get("/")
    assert response.status_code == 200
    ids = card_ids(response)
    assert len(ids) == 6
    assert len(set(ids)) == 6
    html = response.content.decode()
    assert missing(html, "Appears in:", "Comic 000", "Comic 002") == []
    assert "Comic 003" not in html
    for pk in ids:
        assert Character.objects.get(pk=pk).get_absolute_url() in html
    assert featured_ids_param(response) == ",".join(map(str, ids))
    assert "no-store" in response["Cache-Control"]
    assert not response.cookies  # stateless: nothing kept between requests
    assert_attribution(response)


def test_home_image_is_marvels_landscape_variant_over_https(client):
    make_character(5, "Storm")
    html = client.get("/").content.decode()
    expected = IMAGE_PATH.replace("http://", "https://") + "/landscape_incredible.jpg"
    assert f'src="{expected}"' in html
    assert 'data-fallback="/static/img/placeholder.svg"' in html


def test_home_with_fewer_characters_than_cards(client):
    make_many(3)
    assert sorted(card_ids(client.get("/"))) == [1, 2, 3]


def test_reload_without_javascript_replaces_only_that_card(client):
    make_many(40)
    ids = [3, 14, 15, 9, 26, 5]
    response = client.get("/", {"ids": ",".join(map(str, ids)), "reload": "15"})
    assert response.status_code == 200
    new = card_ids(response)
    assert len(new) == 6
    assert new[:2] == [3, 14]
    assert new[3:] == [9, 26, 5]
    assert new[2] not in ids
    assert featured_ids_param(response) == ",".join(map(str, new))
    assert "Now showing" in response.content.decode()


def test_reload_is_stateless_any_client_any_worker(client, django_user_model):
    make_many(20)
    from django.test import Client

    first = Client().get("/", {"ids": "1,2,3,4,5,6", "reload": "6"})
    second = Client().get("/", {"ids": "1,2,3,4,5,6", "reload": "6"})
    assert card_ids(first)[:5] == card_ids(second)[:5] == [1, 2, 3, 4, 5]


def test_reload_when_nobody_else_is_left_keeps_the_card(client):
    make_many(6)
    response = client.get("/", {"ids": "1,2,3,4,5,6", "reload": "4"})
    assert card_ids(response) == [1, 2, 3, 4, 5, 6]


def test_ids_that_no_longer_exist_are_replaced(client):
    make_many(12)
    response = client.get("/", {"ids": "1,2,3,4,5,999"})
    ids = card_ids(response)
    assert ids[:5] == [1, 2, 3, 4, 5]
    assert ids[5] in range(6, 13)


def test_fragment_endpoint_returns_one_new_card_and_the_new_ids(client):
    make_many(30, comics_each=2)
    response = client.get("/featured/card/", {"ids": "1,2,3,4,5,6", "reload": "3"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert "<html" not in html  # a fragment, not a page
    [new] = card_ids(response)
    assert new not in (1, 2, 3, 4, 5, 6)
    ids = re.search(r'data-featured-ids="([0-9,]+)"', html).group(1)
    assert ids == f"1,2,{new},4,5,6"
    assert featured_ids_param(response) == ids  # the new card's own reload form is up to date
    assert "Comic 000" in html


@pytest.mark.parametrize(
    "params",
    [{}, {"ids": "1,2,3,4,5,6"}, {"ids": "1,2,3,4,5,6", "reload": "77"}, {"reload": "1"}],
)
def test_fragment_endpoint_without_a_card_to_reload_is_404(client, params):
    make_many(10)
    assert client.get("/featured/card/", params).status_code == 404


# --- list -----------------------------------------------------------------------------------


def test_list_paginates_24_a_page_with_count_and_rel_links(client):
    make_many(30)
    first = client.get("/characters/")
    assert first.status_code == 200
    assert len(card_ids(first)) == 24
    html = first.content.decode()
    next_link = 'rel="next" href="/characters/?page=2"'
    assert missing(html, "30 characters", "page 1 of 2", next_link) == []
    assert 'rel="prev"' not in html
    second = client.get("/characters/", {"page": "2"})
    assert card_ids(second) == list(range(25, 31))
    html = second.content.decode()
    assert 'rel="prev" href="/characters/"' in html
    assert 'rel="next"' not in html
    assert '<link rel="canonical" href="/characters/?page=2">' in html
    assert_attribution(second)


def test_list_serves_a_bounded_page_range(client, monkeypatch):
    # A page costs its offset on both backends: pages past max_pages are not served.
    monkeypatch.setattr(IndexedPaginator, "max_pages", 2)
    make_many(100)
    deep = client.get("/characters/", {"page": "4"})
    assert deep.status_code == 200
    assert card_ids(deep) == list(range(25, 49))  # page 2, the last one served
    html = deep.content.decode()
    assert "100 characters" in html  # the count stays the number of characters
    assert "page 2 of 2" in html
    assert 'rel="next"' not in html
    assert "Only the first 2 pages are listed" in html
    assert "Only the first" not in client.get("/characters/", {"q": "hero 00"}).content.decode()
    reversed_sort = client.get("/characters/", {"sort": "-name"})
    assert card_ids(reversed_sort)[0] == 100  # the other end is a sort away


def test_search_finds_word_prefixes_whatever_the_case(client):
    make_character(1, "Spider-Man")
    make_character(2, "Spider-Woman")
    make_character(3, "Iron Man")
    response = client.get("/characters/", {"q": "  SPIDER "})
    assert card_ids(response) == [1, 2]
    assert "2 characters matching “SPIDER”" in response.content.decode()
    # A word's start, not any substring: "man" is not in "Woman" as a word.
    assert card_ids(client.get("/characters/", {"q": "man"})) == [3, 1]


def test_search_with_no_match_says_so(client):
    make_character(1, "Thor")
    response = client.get("/characters/", {"q": "Loki"})
    assert card_ids(response) == []
    assert "No characters match “Loki”" in response.content.decode()


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", [1, 2, 3]),
        ("-name", [3, 2, 1]),
        ("modified", [2, 3, 1]),
        ("-modified", [1, 3, 2]),
        ("comics", [3, 1, 2]),
        ("-comics", [2, 1, 3]),
    ],
)
def test_sort(client, sort, expected):
    import datetime as dt

    day = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    make_character(1, "A-Bomb", modified=day, comics_available=5)
    make_character(2, "Beast", modified=day - dt.timedelta(days=9), comics_available=50)
    make_character(3, "Cyclops", modified=day - dt.timedelta(days=1), comics_available=1)
    response = client.get("/characters/", {"sort": sort})
    assert card_ids(response) == expected
    assert f'<option value="{sort}" selected>' in response.content.decode()


def test_with_image_filter(client):
    make_character(1, "Has Image")
    make_character(2, "No Image", image=False)
    Character.objects.create(id=3, name="Blank Image")
    assert card_ids(client.get("/characters/")) == [3, 1, 2]
    response = client.get("/characters/", {"image": "1"})
    assert card_ids(response) == [1]
    assert 'id="image" type="checkbox" name="image" value="1" checked' in response.content.decode()


def test_links_carry_the_canonical_query_string(client):
    make_many(100)  # 50 with an image: three pages
    response = client.get(
        "/characters/", {"page": "2", "sort": "-name", "junk": "x", "image": "on", "q": "hero"}
    )
    html = response.content.decode()
    assert 'rel="next" href="/characters/?q=hero&amp;image=1&amp;sort=-name&amp;page=3"' in html
    assert 'rel="prev" href="/characters/?q=hero&amp;image=1&amp;sort=-name"' in html
    canonical = (
        '<link rel="canonical" href="/characters/?q=hero&amp;image=1&amp;sort=-name&amp;page=2"'
    )
    assert canonical in html


# --- character ------------------------------------------------------------------------------


def test_character_page(client, hulk):
    response = client.get("/characters/1009351/hulk/")
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        missing(
            html,
            "<h1",
            ">Hulk</h1>",
            "Hulk is a character made for the tests.",
            "29 April 2014",
            'datetime="2014-04-29T14:18:17+00:00"',
            "1700 available at Marvel, 2 listed here",
        )
        == []
    )
    assert html.index("Hulk (2008) #53") < html.index("Hulk (2008) #54")
    assert 'href="/comics/40632/"' in html
    assert 'href="http://marvel.com/characters/25/hulk"' in html
    assert "javascript:" not in html  # only http(s) links from the editable JSON
    image = IMAGE_PATH.replace("http://", "https://") + "/portrait_uncanny.jpg"
    assert f'src="{image}" alt="Hulk"' in html
    assert 'data-fallback="/static/img/placeholder.svg"' in html
    assert_attribution(response)


def test_character_without_image_or_description(client):
    make_character(7, "Nobody", image=False, description="", modified=None)
    html = client.get("/characters/7/nobody/").content.decode()
    assert 'src="/static/img/placeholder.svg" alt="No image available for Nobody"' in html
    assert "Marvel has no description for this character." in html
    assert "No comics listed." in html
    assert "unknown" in html


@pytest.mark.parametrize(
    "url",
    ["/characters/1009351/", "/characters/1009351/hulk-smash/", "/characters/1009351/%C3%BC/"],
)
def test_missing_or_wrong_slug_redirects_permanently(client, hulk, url):
    response = client.get(url)
    assert response.status_code == 301
    assert response["Location"] == "/characters/1009351/hulk/"


def test_slug_of_a_name_without_letters(client):
    character = make_character(8, "???")
    assert client.get("/characters/8/").url == character.get_absolute_url()
    assert client.get(character.get_absolute_url()).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/characters/404/x/",
        "/characters/404/",
        "/comics/404/",
        "/characters/99999999999999999999999999/x/",
        "/characters/-1/x/",
        "/comics/abc/",
        "/nowhere/",
    ],
)
def test_unknown_pages_are_the_404_page(client, hulk, url):
    response = client.get(url)
    assert response.status_code == 404
    html = response.content.decode()
    assert "We couldn’t find that page" in html
    assert 'href="/characters/"' in html


# --- comic ----------------------------------------------------------------------------------


def test_comic_page_lists_its_characters_as_cards(client, hulk):
    make_character(2, "Thor", comics=[Comic.objects.get(pk=40632)])
    make_character(3, "Loki")
    response = client.get("/comics/40632/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Hulk (2008) #53" in html
    assert card_ids(response) == [1009351, 2]
    assert "2 characters here appear in this comic" in html
    assert 'name="ids"' not in html  # no featured reload controls outside the home page
    assert_attribution(response)


# --- errors ---------------------------------------------------------------------------------


def test_500_page_renders_without_a_request():
    html = render_to_string("500.html")
    assert "Something went wrong on our side" in html
    assert 'href="/"' in html


@pytest.fixture
def database_down(on_mongodb):
    return lambda: database_unreachable(on_mongodb)


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/featured/card/?ids=1,2,3,4,5,6&reload=1",
        "/characters/",
        "/characters/?q=x",
        "/characters/1/a/",
        "/comics/1/",
    ],
)
def test_database_down_is_a_friendly_503_and_pages_recover(client, database_down, url, hulk):
    with database_down():
        response = client.get(url)
        assert response.status_code == 503
        html = response.content.decode()
        assert "The site is temporarily unavailable" in html
        assert "hunter2" not in html
        assert "Traceback" not in html
        assert response["Retry-After"] == "30"
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 503
    assert client.get("/characters/1009351/hulk/").status_code == 200


def test_database_down_in_the_admin_is_a_503(admin_client, database_down):
    with database_down():
        response = admin_client.get("/admin/characters/character/")
        assert response.status_code == 503
        assert "The site is temporarily unavailable" in response.content.decode()
    assert admin_client.get("/admin/characters/character/").status_code == 200


@pytest.mark.parametrize(
    ("error", "status", "text"),
    [
        (RuntimeError("boom"), 500, "Something went wrong on our side"),
        (IntegrityError("duplicate key"), 500, "Something went wrong on our side"),
        (OperationalError("no such table"), 503, "The site is temporarily unavailable"),
    ],
)
def test_errors_in_a_view_are_friendly_pages(client, monkeypatch, error, status, text):
    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(Character.objects, "all", broken, raising=False)
    client.raise_request_exception = False
    response = client.get("/characters/", {"q": "x"})
    assert response.status_code == status
    html = response.content.decode()
    assert text in html
    assert str(error) not in html
