"""A real browser uploads a character's image through the real admin (Chromium, as
tests/site/test_browser.py), and the image shows on the change form and the public page, within
the Content-Security-Policy."""

import re

import pytest
from PIL import Image, ImageDraw

from characters.models import Character
from tests.support.browser import log_in, open_page, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def site(live_admin, settings, tmp_path, hulk):
    if not settings.ON_MONGODB:
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {**settings.STORAGES["default"], "OPTIONS": {"location": tmp_path}},
        }
    picture = tmp_path / "hulk.png"
    image = Image.new("RGB", (600, 900), (60, 140, 60))
    ImageDraw.Draw(image).ellipse((100, 150, 500, 750), fill=(30, 90, 30))
    image.save(picture)
    return live_admin, hulk, picture


# An image the browser fetched and decoded (a refused or broken one has no natural width).
LOADED = (
    "(img => img && img.complete && img.naturalWidth > 0)(document.querySelector('{selector}'))"
)


def test_upload_an_image_through_the_admin(site, browser, shots):
    base, hulk, picture = site
    csp_violations = []
    page = open_page(browser, csp_violations, viewport={"width": 1280, "height": 1000})

    page.goto(f"{base}/admin/login/?next=/admin/")
    log_in(page, base)
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
