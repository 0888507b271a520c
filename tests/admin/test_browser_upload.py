"""A real browser uploads a character's image through the real admin (Chromium, as
tests/site/test_browser.py), and the image shows on the change form and the public page, within
the Content-Security-Policy."""

import re

import pytest
from PIL import Image, ImageDraw

from characters.models import Character
from tests.support.browser import (
    CHROMIUM_ARGS,
    only_loopback,
    sync_playwright,
    wait_until,
    watch_csp,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site(live_server, settings, django_user_model, monkeypatch, tmp_path, hulk):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False  # plain-HTTP server
    if not settings.ON_MONGODB:
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {**settings.STORAGES["default"], "OPTIONS": {"location": tmp_path}},
        }
    django_user_model.objects.create_superuser("boss", "boss@example.com", "browser-test-pw")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    picture = tmp_path / "hulk.png"
    image = Image.new("RGB", (600, 900), (60, 140, 60))
    ImageDraw.Draw(image).ellipse((100, 150, 500, 750), fill=(30, 90, 30))
    image.save(picture)
    return live_server.url, hulk, picture


# An image the browser fetched and decoded (a refused or broken one has no natural width).
LOADED = (
    "(img => img && img.complete && img.naturalWidth > 0)(document.querySelector('{selector}'))"
)


def test_upload_an_image_through_the_admin(chromium_path, site, shots):
    base, hulk, picture = site
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
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
            change = f"{base}/admin/characters/character/{hulk.pk}/change/"
            page.goto(change)

            # Not an image: the form says so and keeps the row as it was.
            fake = picture.with_name("fake.png")
            fake.write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>")
            page.get_by_label("Upload an image:").set_input_files(fake)
            page.get_by_role("button", name="Save and continue editing").click()
            assert "is not a JPEG, PNG or WebP image" in page.locator(".errorlist").inner_text()

            page.get_by_label("Upload an image:").set_input_files(picture)
            page.get_by_role("button", name="Save and continue editing").click()
            page.wait_for_url(re.compile(rf".*/{hulk.pk}/change/(\?.*)?$"))
            assert "was changed successfully" in page.locator(".messagelist").inner_text()
            preview = ".field-preview img"
            wait_until(page, LOADED.format(selector=preview))
            assert "Uploaded here" in page.locator(".field-preview").inner_text()
            page.screenshot(path=shots / "admin-upload.png", full_page=True)

            hulk = Character.objects.get(pk=hulk.pk)
            assert hulk.image_upload
            page.goto(f"{base}{hulk.get_absolute_url()}")
            detail = f'img[src="{hulk.upload_url("detail")}"]'
            wait_until(page, LOADED.format(selector=detail))
            page.screenshot(path=shots / "character-upload.png", full_page=True)
            assert csp_violations == []
        finally:
            browser.close()
