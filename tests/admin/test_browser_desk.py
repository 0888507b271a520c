"""A real browser edits a character's comics and links in the real admin (Chromium, as
tests/admin/test_browser_upload.py): the comic chooser finds a comic by the start of its title
and shows chosen comics' titles in full; a bad link row gets its own error, and the save keeps
the editor's rows and comics; all within the Content-Security-Policy."""

import pytest

from characters.models import Character, Comic
from tests.support.browser import CHROMIUM_ARGS, only_loopback, sync_playwright, watch_csp
from tests.support.page_data import make_character

pytestmark = pytest.mark.django_db(transaction=True)

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


@pytest.fixture
def site(live_server, settings, django_user_model, monkeypatch):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False  # plain-HTTP server
    hulk = make_character(1009351, "Hulk", comics=[(40632, LONG_TITLE)])
    Comic.objects.create(id=2001, title=FOUND_TITLE)
    Comic.objects.create(id=2002, title="Fantastic Four (1961) #12")
    django_user_model.objects.create_superuser("boss", "boss@example.com", "browser-test-pw")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    return live_server.url, hulk


def test_choose_comics_and_edit_link_rows(chromium_path, site, shots):
    base, hulk = site
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = browser.new_context(viewport={"width": 1024, "height": 900})
            context.route("**/*", only_loopback)
            csp_violations = []
            watch_csp(context, csp_violations)
            page = context.new_page()
            page.set_default_timeout(15_000)

            page.goto(f"{base}/admin/login/?next=/admin/")
            page.get_by_label("Username").fill("boss")
            page.get_by_label("Password").fill("browser-test-pw")
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{base}/admin/")
            page.goto(f"{base}/admin/characters/character/{hulk.pk}/change/")

            # The chosen comic's long title, whole, in a 1024 px wide window.
            page.wait_for_function(SHOWN_WHOLE, arg=[LONG_TITLE], timeout=10_000)

            # Find a comic by the start of a word-folded title, any case, and choose it.
            page.locator(".field-comics .select2-search__field").click()
            page.keyboard.type("FUTURE imperfect")
            option = page.locator(".select2-results__option", has_text=FOUND_TITLE)
            option.wait_for()
            assert page.locator(".select2-results__option", has_text="Fantastic").count() == 0
            option.click()
            page.wait_for_function(SHOWN_WHOLE, arg=[FOUND_TITLE], timeout=10_000)

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
            page.wait_for_function(SHOWN_WHOLE, arg=[FOUND_TITLE], timeout=10_000)
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
            assert page.get_by_label("Link 2 URL").input_value() == (
                "https://marvel.fandom.com/wiki/Hulk"
            )
            page.wait_for_function(SHOWN_WHOLE, arg=[LONG_TITLE], timeout=10_000)
            page.wait_for_function(SHOWN_WHOLE, arg=[FOUND_TITLE], timeout=10_000)
            page.screenshot(path=shots / "admin-comics-and-links.png", full_page=True)
            assert csp_violations == []
        finally:
            browser.close()
