"""A real browser edits a character's comics and links in the real admin (Chromium, as
tests/admin/test_browser_upload.py): the comic chooser finds a comic by the start of its title
and shows chosen comics' titles in full; a bad link row gets its own error, and the save keeps
the editor's rows and comics; all within the Content-Security-Policy."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from characters.models import Character, Comic
from tests.support.browser import log_in, open_page, wait_until
from tests.support.page_data import make_character

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LONG_TITLE = (
    "Incredible Hulk: The Gamma-Irradiated Giant-Size Annual of Smashing Everything in Sight "
    "(2008) #53"
)
FOUND_TITLE = "Future Imperfect: The Maestro Rules the Ruins of Dystopia, a Hulk Story (1992) #1"
# A chosen comic shown whole: nothing cut (no overflow) and every word of its title there.
# Waited for: select2 draws the choices after the page loads.
SHOWN_WHOLE = """
([title]) => [...document.querySelectorAll('.field-comics .select2-selection__choice')]
  .some(c => c.textContent.includes(title) && c.scrollWidth <= c.clientWidth + 1
             && c.getBoundingClientRect().right <= window.innerWidth)
"""
FOUND_BY = "FUTURE imperfect"
# The chooser's list shows exactly these titles (select2 draws an answer after it arrives).
SHOWN_CHOICES = """
(titles) => JSON.stringify([...document.querySelectorAll('.select2-results__option')]
  .map(o => o.textContent.trim())) === JSON.stringify(titles)
"""


def whole_text_searched(response):
    query = parse_qs(urlsplit(response.url).query)
    return "/autocomplete/" in response.url and query.get("term") == [FOUND_BY]


@pytest.fixture
def site(live_admin):
    hulk = make_character(1009351, "Hulk", comics=[(40632, LONG_TITLE)])
    Comic.objects.create(id=2001, title=FOUND_TITLE)
    Comic.objects.create(id=2002, title="Fantastic Four (1961) #12")
    return live_admin, hulk


def shown_whole(page, title):
    wait_until(page, f"({SHOWN_WHOLE})([{json.dumps(title)}])", seconds=10)


def test_choose_comics_and_edit_link_rows(site, browser, shots):
    base, hulk = site
    csp_violations = []
    page = open_page(browser, csp_violations, viewport={"width": 1024, "height": 900})
    page.goto(f"{base}/admin/login/?next=/admin/")
    log_in(page, base)
    page.goto(f"{base}/admin/characters/character/{hulk.pk}/change/")

    # The chosen comic's long title, whole, in a 1024 px wide window.
    shown_whole(page, LONG_TITLE)

    # Find a comic by the start of a word-folded title, any case, and choose it.
    # Typing sends a search per pause: a slow keyboard's "F" finds both comics. Only the
    # answer to the whole text counts, and the list is checked once it shows that answer.
    page.locator(".field-comics .select2-search__field").click()
    with page.expect_response(whole_text_searched) as answer:
        page.keyboard.type(FOUND_BY)
    assert [row["text"] for row in answer.value.json()["results"]] == [FOUND_TITLE]
    wait_until(page, f"({SHOWN_CHOICES})({json.dumps([FOUND_TITLE])})", seconds=10)
    page.locator(".select2-results__option", has_text=FOUND_TITLE).click()
    shown_whole(page, FOUND_TITLE)

    # A new link row with a URL that is not http(s): its own error, nothing saved.
    page.get_by_label("Link 2 type").fill("wiki")
    page.get_by_label("Link 2 URL").fill("javascript:alert(1)")
    page.get_by_role("button", name="Save and continue editing").click()
    errors = page.locator(".field-urls .errorlist").inner_text()
    assert "Link 2: “javascript:alert(1)” is not an http or https URL." in errors
    assert "Link 1" not in errors
    assert Character.objects.get(pk=hulk.pk).urls == hulk.urls
    # The form comes back with what the editor entered: the row and both comics.
    assert page.get_by_label("Link 2 URL").input_value() == "javascript:alert(1)"
    shown_whole(page, FOUND_TITLE)
    page.screenshot(path=shots / "admin-link-row-error.png", full_page=True)

    page.get_by_label("Link 2 URL").fill("https://marvel.fandom.com/wiki/Hulk")
    page.get_by_role("button", name="Save and continue editing").click()
    assert "was changed successfully" in page.locator(".messagelist").inner_text()
    saved = Character.objects.get(pk=hulk.pk)
    assert saved.urls == [
        *hulk.urls,
        {"type": "wiki", "url": "https://marvel.fandom.com/wiki/Hulk"},
    ]
    assert sorted(saved.comic_ids()) == [2001, 40632]
    assert sorted(saved.local_edits) == ["comics", "links"]
    assert page.get_by_label("Link 2 URL").input_value() == "https://marvel.fandom.com/wiki/Hulk"
    shown_whole(page, LONG_TITLE)
    shown_whole(page, FOUND_TITLE)
    page.screenshot(path=shots / "admin-comics-and-links.png", full_page=True)
    assert csp_violations == []
