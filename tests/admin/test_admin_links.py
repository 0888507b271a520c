"""A character's links edited as rows (type, URL) through the change form's own save path:
per-row errors, http(s) only, the "links" ownership group and the compare-and-swap."""

import pytest
from django.db.models import F

from characters.models import Character
from tests.support.admin_forms import flat, form_values
from tests.support.html import missing

pytestmark = pytest.mark.django_db

DETAIL = "http://marvel.com/characters/25/hulk"
WIKI = "https://marvel.com/universe/Hulk"


@pytest.fixture
def hulk(hulk):
    """The shared Hulk (tests/admin/conftest.py) with two links to edit."""
    Character.objects.filter(pk=hulk.pk).update(
        urls=[{"type": "detail", "url": DETAIL}, {"type": "wiki", "url": WIKI}]
    )
    hulk.refresh_from_db()
    return hulk


def change_url(character):
    return f"/admin/characters/character/{character.pk}/change/"


def opened(admin_client, character) -> dict:
    return form_values(admin_client.get(change_url(character)).content.decode())


def test_links_are_rows_not_json(admin_client, hulk):
    html = admin_client.get(change_url(hulk)).content.decode()
    assert '<textarea name="urls"' not in html
    values = form_values(html)
    assert values["urls-0-type"] == ["detail"]
    assert values["urls-0-url"] == [DETAIL]
    assert values["urls-1-url"] == [WIKI]
    assert values["urls-2-url"] == [""]  # a blank row to add one
    assert values["urls-rows"] == ["5"]


def test_saving_the_form_unchanged_edits_nothing(admin_client, hulk):
    response = admin_client.post(change_url(hulk), flat(opened(admin_client, hulk)))
    assert response.status_code == 302
    hulk.refresh_from_db()
    assert hulk.local_edits is None
    assert hulk.urls == [{"type": "detail", "url": DETAIL}, {"type": "wiki", "url": WIKI}]


def test_rows_are_edited_added_and_removed(admin_client, hulk):
    data = flat(
        opened(admin_client, hulk),
        **{
            "urls-0-url": DETAIL + "?edited",
            "urls-1-type": "",
            "urls-1-url": "",  # removed
            "urls-3-type": "comiclink",
            "urls-3-url": "https://marvel.com/comics/characters/1009351",
        },
    )
    response = admin_client.post(change_url(hulk), data)
    assert response.status_code == 302
    hulk.refresh_from_db()
    assert hulk.urls == [
        {"type": "detail", "url": DETAIL + "?edited"},
        {"type": "comiclink", "url": "https://marvel.com/comics/characters/1009351"},
    ]
    assert list(hulk.local_edits) == ["links"]  # imports keep them now
    assert hulk.local_edits["links"][0]["url"] == DETAIL
    assert hulk.version == 2
    assert hulk.description.startswith("Hulk is")  # untouched


def test_bad_rows_get_their_own_errors_and_nothing_is_saved(admin_client, hulk):
    data = flat(
        opened(admin_client, hulk),
        **{
            "urls-1-url": "javascript:alert(1)",
            "urls-2-url": "https://example.com/no-type",
            "urls-3-type": "wiki",
            "urls-4-url": "ftp://example.com/file",
            "urls-4-type": "detail",
        },
    )
    response = admin_client.post(change_url(hulk), data)
    assert response.status_code == 200
    html = response.content.decode()
    errors = [
        "Link 2: “javascript:alert(1)” is not an http or https URL.",
        "Link 3: enter a type",
        "Link 4: enter a URL, or clear the row&#x27;s type.",
        "Link 5: “ftp://example.com/file” is not an http or https URL.",
    ]
    assert missing(html, *errors) == []
    assert "Link 1:" not in html
    assert 'value="https://example.com/no-type"' in html  # the editor's input is kept
    hulk.refresh_from_db()
    assert hulk.urls[1]["url"] == WIKI
    assert hulk.version == 1


def test_links_changed_by_someone_else_meanwhile_are_a_conflict(admin_client, hulk):
    data = flat(opened(admin_client, hulk), **{"urls-0-url": DETAIL + "?mine"})
    theirs = [{"type": "detail", "url": DETAIL + "?theirs"}]
    Character.objects.filter(pk=hulk.pk).update(urls=theirs, version=F("version") + 1)
    response = admin_client.post(change_url(hulk), data)
    assert response.status_code == 200
    assert "changed by someone else" in response.content.decode()
    hulk.refresh_from_db()
    assert hulk.urls == theirs
    # Saved again, seeing theirs: the editor's rows win.
    again = admin_client.post(change_url(hulk), flat(form_values(response.content.decode())))
    assert again.status_code == 302
    hulk.refresh_from_db()
    assert hulk.urls[0]["url"] == DETAIL + "?mine"


def test_an_unrelated_edit_meanwhile_merges(admin_client, hulk):
    data = flat(opened(admin_client, hulk), **{"urls-1-url": WIKI + "/edited"})
    Character.objects.filter(pk=hulk.pk).update(description="Theirs", version=F("version") + 1)
    assert admin_client.post(change_url(hulk), data).status_code == 302
    hulk.refresh_from_db()
    assert hulk.description == "Theirs"
    assert hulk.urls[1]["url"] == WIKI + "/edited"
