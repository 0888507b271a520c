"""What stored data can put in a page (marvelsite/hygiene.py), on both backends: only http(s)
URLs in src and href, no control characters; and the site's small public surfaces: the admin
login's fallback for an unsafe `next`, robots.txt. (/readyz: tests/site/test_health.py.)"""

import re

import pytest

from characters.models import Character
from marvelsite.hygiene import is_web_url, without_controls
from tests.support.page_data import make_character

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

BAD_URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    " javascript:alert(1)",
    "data:image/svg+xml;base64,PHN2Zz4=",
    "vbscript:msgbox(1)",
    "//evil.example/x",
    "/relative/path",
    "https://",
    "https://evil.example/a b",
    "http://evil.example/\x00",
    "ftp://files.example/x",
    "",
    None,
    42,
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_only_absolute_http_urls_are_web_urls(url):
    assert not is_web_url(url)


@pytest.mark.parametrize(
    "url", ["https://marvel.com/characters/1", "http://i.annihil.us/u/prod/x", "HTTPS://A.B/"]
)
def test_http_urls_are_web_urls(url):
    assert is_web_url(url)


def test_control_characters_are_removed_from_text():
    assert without_controls("Hul\x00k\x1b[31m\x7f\x85\tis\ngreen") == "Hulk[31m\tis\ngreen"


@pytest.mark.django_db
@pytest.mark.parametrize("path", [u for u in BAD_URLS if isinstance(u, str) and u])
def test_a_stored_bad_image_or_link_url_is_never_rendered(client, admin_client, path):
    make_character(
        1009351,
        "Hulk",
        urls=[
            {"type": "evil", "url": path},
            {"type": "detail", "url": "http://marvel.com/characters/1009351"},
        ],
    )
    Character.objects.filter(pk=1009351).update(thumbnail_path=path)
    hulk = Character.objects.get(pk=1009351)
    assert hulk.image_url() == ""
    assert [link["type"] for link in hulk.safe_links()] == ["detail"]
    pages = {
        url: client.get(url).content.decode()
        for url in ("/characters/", "/characters/1009351/hulk/")
    }
    pages["admin"] = admin_client.get("/admin/characters/character/").content.decode()
    for url, html in pages.items():
        for source in re.findall(r'(?:src|href)="([^"]*)"', html):
            assert source.startswith(("/", "#", "?", "http://", "https://")), (url, source)
            assert not source.startswith("//"), (url, source)
            assert "evil.example" not in source, (url, source)
    detail = pages["/characters/1009351/hulk/"]
    assert "No image available for Hulk" in detail  # the placeholder instead
    assert 'href="http://marvel.com/characters/1009351"' in detail


@pytest.mark.django_db
def test_an_image_extension_cannot_add_a_path_or_query(client):
    make_character(1009351, "Hulk")
    Character.objects.filter(pk=1009351).update(thumbnail_extension="jpg?x=1")
    assert Character.objects.get(pk=1009351).image_url() == ""


@pytest.mark.django_db
def test_stored_control_characters_never_reach_a_page(client, admin_client):
    make_character(
        1009351,
        "Hul\x00k\x1b",
        description="Green\x07 and \x85angry\x7f.",
        comics=[(5001, "Incredible\x0b Hulk\x00 #1")],
    )
    pages = [
        client.get(url)
        for url in ("/characters/", "/characters/1009351/hulk/", "/comics/5001/", "/")
    ]
    pages.append(admin_client.get("/admin/characters/character/1009351/change/"))
    for response in pages:
        assert response.status_code == 200, response
        html = response.content.decode()
        assert not CONTROL.search(html), (response.request["PATH_INFO"], CONTROL.findall(html))
        assert int(response.get("Content-Length", len(response.content))) == len(response.content)
    detail = pages[1].content.decode()
    assert "Hulk" in detail
    assert "Green and angry." in detail
    assert "Incredible Hulk #1" in detail


@pytest.mark.django_db
@pytest.mark.parametrize(
    "unsafe", ["https://evil.example/", "//evil.example/", "javascript:alert(1)", ""]
)
def test_an_unsafe_next_after_the_admin_login_lands_on_the_admin_index(
    client, django_user_model, unsafe
):
    django_user_model.objects.create_superuser("boss", "boss@example.com", "right-pw-31")
    response = client.post(
        f"/admin/login/?next={unsafe}",
        {"username": "boss", "password": "right-pw-31", "next": unsafe},
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


@pytest.mark.django_db
def test_a_safe_next_after_the_admin_login_is_followed(client, django_user_model):
    django_user_model.objects.create_superuser("boss", "boss@example.com", "right-pw-31")
    changelist = "/admin/characters/character/"
    response = client.post(
        "/admin/login/", {"username": "boss", "password": "right-pw-31", "next": changelist}
    )
    assert response["Location"] == changelist


def test_robots_txt_keeps_crawlers_out_of_the_admin(client):
    # No database: robots.txt is answered without one.
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    lines = response.content.decode().splitlines()
    assert lines == ["User-agent: *", "Disallow: /admin/"]
    assert "public" in response["Cache-Control"]
    assert "max-age=86400" in response["Cache-Control"]
    assert client.post("/robots.txt").status_code == 405


def test_the_quick_control_test_agrees_with_the_pattern_for_every_character():
    from marvelsite.hygiene import CONTROL_BYTES, has_control_bytes

    for code in range(0x300):
        body = f"<p>Spider-Man © {chr(code)} MARVEL</p>".encode()
        assert has_control_bytes(body) == bool(CONTROL_BYTES.search(body)), hex(code)
