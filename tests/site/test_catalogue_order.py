"""Unknown dates and reading order, on both backends: Marvel's "unknown" dates are stored as
null, shown as "unknown" and listed last; names are listed by their sort key."""

import datetime as dt
import re

import pytest

from characters.ingest.importer import Importer
from characters.ingest.records import ParsedPage, parse_modified, parse_results
from characters.models import SERIES_ISSUES_SHOWN, Character, Comic
from tests.support.page_data import make_character

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def card_names(response) -> list[str]:
    return [card.character.name for card in response.context["cards"]]


@pytest.mark.parametrize(
    "value",
    [
        "1969-12-31T19:00:00-0500",  # what Marvel sends for "unknown"
        "1970-01-01T00:00:00+0000",
        "1970-01-01T00:00:00+0100",  # the epoch's wall clock, in another offset
        "1970-01-01T01:00:00+0100",  # the epoch instant, in another offset
        "-0001-11-30T00:00:00-0500",
    ],
)
def test_marvels_unknown_dates_are_none(value):
    assert parse_modified(value) is None


def test_real_dates_are_kept():
    assert parse_modified("2014-04-29T14:18:17-0400") == dt.datetime(
        2014, 4, 29, 18, 18, 17, tzinfo=UTC
    )
    assert parse_modified("1970-01-02T00:00:00-0500") is not None


def test_an_unknown_date_shows_as_unknown(client):
    character = make_character(1, "Abyss", modified=None)
    html = client.get(character.get_absolute_url()).content.decode()
    assert re.search(r"Modified at Marvel.*?</dt>\s*<dd>unknown</dd>", html, re.S)
    assert "1970" not in html
    assert "1969" not in html


def test_the_admin_shows_no_1970_for_an_unknown_date(admin_client):
    make_character(1, "Abyss", modified=None)
    html = admin_client.get("/admin/characters/character/").content.decode()
    assert "Abyss" in html
    assert "1970" not in html
    assert "1969" not in html


@pytest.fixture
def dated(db):
    """30 characters: 20 with dates (A00 oldest), 10 unknown (U00..U09)."""
    start = dt.datetime(2010, 1, 1, tzinfo=UTC)
    for n in range(20):
        make_character(n + 1, f"A{n:02d}", modified=start + dt.timedelta(days=n))
    for n in range(10):
        make_character(100 + n, f"U{n:02d}", modified=None)


def test_unknown_dates_come_last_in_both_directions_across_pages(client, dated):
    oldest = card_names(client.get("/characters/", {"sort": "modified"}))
    assert oldest[:20] == [f"A{n:02d}" for n in range(20)]
    assert oldest[20:] == [f"U{n:02d}" for n in range(4)]  # by id, after every known date
    second = card_names(client.get("/characters/", {"sort": "modified", "page": 2}))
    assert second == [f"U{n:02d}" for n in range(4, 10)]
    newest = card_names(client.get("/characters/", {"sort": "-modified"}))
    assert newest[:20] == [f"A{n:02d}" for n in reversed(range(20))]
    assert set(newest[20:]) <= {f"U{n:02d}" for n in range(10)}
    last = card_names(client.get("/characters/", {"sort": "-modified", "page": 2}))
    assert len(newest) + len(last) == 30
    assert set(last) <= {f"U{n:02d}" for n in range(10)}


def test_unknown_dates_last_with_a_search_too(client, dated):
    assert card_names(client.get("/characters/", {"sort": "modified", "q": "u0"}))[:2] == [
        "U00",
        "U01",
    ]
    page = card_names(client.get("/characters/", {"sort": "modified", "q": "a1"}))
    assert page == [f"A{n}" for n in range(10, 20)]


def test_the_next_import_fixes_a_stored_1970(db):
    raw = {"id": 7, "name": "Abyss", "modified": "1969-12-31T19:00:00-0500"}
    records, _ = parse_results([raw])
    Importer().import_page(ParsedPage(0, records, []))
    # As an import before unknown dates were known stored it.
    epoch = dt.datetime(1970, 1, 1, tzinfo=UTC)
    Character.objects.filter(id=7).update(modified=epoch, marvel_digest="0" * 32)
    stats = Importer().import_page(ParsedPage(0, records, []))
    assert stats.characters_updated == 1
    assert Character.objects.get(id=7).modified is None


def test_names_are_listed_in_reading_order(client, admin_client):
    names = ["Queen Noir", "pug", "'Mad' Jim Jaspers", "Ästhetik", "Abyss", "A-Bomb (HAS)"]
    for n, name in enumerate(names, start=1):
        make_character(n, name)
    expected = ["A-Bomb (HAS)", "Abyss", "Ästhetik", "'Mad' Jim Jaspers", "pug", "Queen Noir"]
    assert card_names(client.get("/characters/")) == expected
    assert card_names(client.get("/characters/", {"sort": "-name"})) == expected[::-1]
    html = admin_client.get("/admin/characters/character/").content.decode()
    assert [html.index(f">{name}<".replace("'", "&#x27;")) for name in expected] == sorted(
        html.index(f">{name}<".replace("'", "&#x27;")) for name in expected
    )
    # The admin's name column sorts by the same key.
    html = admin_client.get("/admin/characters/character/", {"o": "-2"}).content.decode()
    positions = [html.index(f">{name}<".replace("'", "&#x27;")) for name in expected]
    assert positions == sorted(positions, reverse=True)


def test_a_renamed_character_gets_a_new_sort_key_and_tokens(client):
    character = make_character(1, "Pug")
    character.name = "Zzax"
    character.save(update_fields=["name"])
    stored = Character.objects.get(id=1)
    assert stored.sort_name == "zzax"
    assert "zza" in stored.name_tokens
    Character.objects.filter(id=1).update(name="Mole Man")
    assert card_names(client.get("/characters/", {"q": "mole"})) == ["Mole Man"]
    assert card_names(client.get("/characters/", {"q": "zzax"})) == []


def test_a_comic_page_says_its_series_and_links_the_other_issues(client):
    make_character(
        1,
        "Thor",
        comics=[(10, "Avengers (1963) #1"), (11, "Avengers (1963) #2"), (12, "Avengers (1998) #1")],
    )
    Comic.objects.bulk_create(
        [Comic(id=100 + n, title=f"Avengers (1963) #{n}") for n in range(3, 40)]
        + [Comic(id=99, title="Avengers (1963) #1.5"), Comic(id=98, title="Avengers Assemble TPB")]
    )
    html = client.get("/comics/10/").content.decode()
    assert "<dt>Series</dt><dd>Avengers</dd>" in html
    assert "<dt>Started</dt><dd>1963</dd>" in html
    assert "<dt>Issue</dt><dd>#1</dd>" in html
    series = re.search(
        r'<section class="comics" aria-labelledby="series-title">.*?</section>', html, re.S
    )
    titles = re.findall(r'<a href="/comics/\d+/">([^<]+)</a>', series.group(0))
    # By issue number, this one left out, another volume and a collection not in it; bounded.
    assert titles[:3] == ["Avengers (1963) #1.5", "Avengers (1963) #2", "Avengers (1963) #3"]
    assert len(titles) == SERIES_ISSUES_SHOWN
    assert "the catalogue holds more" in series.group(0)
    assert "Avengers (1998)" not in series.group(0)
    lonely = client.get("/comics/98/").content.decode()
    assert "series-title" not in lonely
    assert "<dt>Series</dt>" not in lonely
