"""A real browser: Debian's headless Chromium driven by Playwright for Python.

Against the site served on 127.0.0.1 (pytest-django's live_server): the home page, reloading
one featured card in place (and without JavaScript), a search, a character page, a comic page,
the admin (log in, rename a character) and the rename on the public page. Screenshots are saved
under test-artifacts/browser/<backend>/ (gitignored; CI keeps them as artifacts).

Required when CI=true; skipped locally, with the reason, only when no Chromium is installed.
Never `playwright install`: the browser is Debian's (/usr/bin/chromium), offline.
"""

import re

import pytest
from django.core.cache import cache

from characters.models import Comic
from tests.support.browser import log_in, open_page, wait_until
from tests.support.page_data import make_character, make_many

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def site(live_admin, settings):
    """Rows, made before the browser starts (the ORM stays out of its loop)."""
    settings.PAGE_CACHE_SECONDS = 60  # as in production: the admin edit must still show at once
    cache.clear()
    make_many(30, comics_each=3)
    spidey = make_character(
        1009610,
        "Spider-Man",
        comics=[(5001, "Amazing Spider-Man (1963) #1"), (5002, "Marvel Team-Up (1972) #1")],
        comics_available=4000,
        description="Bitten by a radioactive spider, Peter Parker gained spider powers.",
    )
    make_character(1009220, "Captain America", comics=[Comic.objects.get(pk=5002)], image=False)
    return live_admin, spidey


def card_ids(page):
    return page.eval_on_selector_all("#featured .card", "cs => cs.map(c => c.dataset.characterId)")


def test_browse_reload_search_detail_comic_and_admin_edit(site, browser, shots):
    base, spidey = site
    csp_violations = []
    page = open_page(browser, csp_violations, viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # Home: six cards, attribution, the CDN images replaced by the local placeholder.
    home = page.goto(f"{base}/")
    assert "default-src 'self'" in home.headers["content-security-policy"]
    before = card_ids(page)
    assert len(before) == 6
    assert page.get_by_role("link", name="Data provided by Marvel. © 2022 MARVEL").count()
    wait_until(
        page,
        "[...document.querySelectorAll('#featured img')]"
        ".every(i => i.complete && i.naturalWidth > 0)",
    )
    page.screenshot(path=shots / "01-home.png", full_page=True)

    # Reload the third card in place: no navigation, the other five stay.
    page.evaluate("window.__sameDocument = true")
    page.locator("#featured > li").nth(2).get_by_role("button", name="Reload!").click()
    third = "document.querySelectorAll('#featured .card')[2].dataset.characterId"
    wait_until(page, f"{third} !== '{before[2]}'")
    after = card_ids(page)
    assert after[:2] + after[3:] == before[:2] + before[3:]
    assert after[2] not in before
    assert page.evaluate("window.__sameDocument") is True
    ids_inputs = page.eval_on_selector_all(
        "#featured input[name=ids]", "inputs => inputs.map(i => i.value)"
    )
    assert set(ids_inputs) == {",".join(after)}
    assert page.locator("#featured-status").inner_text().startswith("Now showing")
    focused = page.evaluate("document.activeElement.closest('.card').dataset.characterId")
    assert focused == after[2]
    page.screenshot(path=shots / "02-home-after-reload.png", full_page=True)

    # Search from the header, then open the character.
    page.get_by_label("Search characters by name").fill("spider")
    page.get_by_label("Search characters by name").press("Enter")
    page.wait_for_url("**/characters/?q=spider")
    assert page.locator(".card").count() == 1
    assert "1 character matching “spider”" in page.locator(".result-count").inner_text()
    page.screenshot(path=shots / "03-search.png", full_page=True)
    page.get_by_role("link", name="Spider-Man").first.click()
    page.wait_for_url(f"**{spidey.get_absolute_url()}")
    assert page.locator("h1").inner_text() == "Spider-Man"
    wait_until(page, "document.querySelector('.detail-image img').src.endsWith('placeholder.svg')")
    assert "4000 available at Marvel, 2 listed here" in page.content()
    page.screenshot(path=shots / "04-character.png", full_page=True)

    # Follow a comic: its characters as cards.
    page.get_by_role("link", name="Marvel Team-Up (1972) #1").click()
    page.wait_for_url("**/comics/5002/")
    assert page.locator("h1").inner_text() == "Marvel Team-Up (1972) #1"
    names = page.locator(".card-title").all_inner_texts()
    assert names == ["Captain America", "Spider-Man"]
    page.screenshot(path=shots / "05-comic.png", full_page=True)

    # The admin: Django's login page, then rename the character.
    admin = page.goto(f"{base}/admin/")
    page.wait_for_url("**/admin/login/?next=/admin/")
    assert "default-src 'self'" in admin.headers["content-security-policy"]
    log_in(page, base)
    page.goto(f"{base}/admin/characters/character/?q=spider")
    page.get_by_role("link", name="Spider-Man", exact=True).click()
    page.get_by_label("Name:").fill("Spider-Man (Peter Parker)")
    page.screenshot(path=shots / "06-admin-edit.png", full_page=True)
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r".*/admin/characters/character/(\?.*)?$"))
    assert "was changed successfully" in page.locator(".messagelist").inner_text()

    # At once on the public page (the old URL redirects to the new slug).
    page.goto(f"{base}{spidey.get_absolute_url()}")
    page.wait_for_url("**/characters/1009610/spider-man-peter-parker/")
    assert page.locator("h1").inner_text() == "Spider-Man (Peter Parker)"
    page.screenshot(path=shots / "07-character-renamed.png", full_page=True)

    # Without JavaScript the Reload button is a plain form that keeps the other five.
    nojs = open_page(browser, csp_violations, java_script_enabled=False)
    nojs.goto(f"{base}/")
    before = card_ids(nojs)
    nojs.locator("#featured > li").nth(4).get_by_role("button", name="Reload!").click()
    nojs.wait_for_url("**/?ids=*&reload=*")
    after = card_ids(nojs)
    assert after[:4] + after[5:] == before[:4] + before[5:]
    assert after[4] not in before
    nojs.screenshot(path=shots / "08-home-reload-without-js.png", full_page=True)

    # Narrow screens: one column, nothing wider than the viewport.
    small = open_page(browser, csp_violations, viewport={"width": 375, "height": 800})
    small.goto(f"{base}/characters/")
    width = small.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    small.screenshot(path=shots / "09-list-phone.png", full_page=True)

    assert errors == []
    assert csp_violations == []
    assert (shots / "07-character-renamed.png").stat().st_size > 10_000
