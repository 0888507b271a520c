"""Local edits are owned locally (characters/ownership.py): what the admin notes, shows, resets
and remembers on deletion, on both backends. The importer's side:
tests/ingest/test_import_ownership.py.
"""

import re

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry

from characters.models import LOCAL_ID_START, Character, Comic, DeletedCharacter
from tests.support.admin_forms import change_data
from tests.support.page_data import IMAGE_PATH, make_character

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/characters/character/"
COMICS = "/admin/characters/comic/"
DELETED = "/admin/characters/deletedcharacter/"
IRON_MAN = 1009368
MARVEL_DESCRIPTION = "Wounded, captured and forced to build a weapon by his enemies."


@pytest.fixture
def iron_man():
    return make_character(
        IRON_MAN,
        "Iron Man",
        description=MARVEL_DESCRIPTION,
        comics=[(43495, "Avengers (2012) #1"), (43501, "Iron Man (2012) #1"), (43506, "X #1")],
    )


def edit(admin_client, character, **changes):
    response = admin_client.post(
        f"{CHANGELIST}{character.pk}/change/", change_data(character, **changes)
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    character.refresh_from_db()
    return character


def row_cell(html, name, column):
    row = re.search(rf"<tr>(?:(?!</tr>).)*>{re.escape(name)}<.*?</tr>", html, re.S).group(0)
    return re.search(rf'class="field-{column}">([^<]*)<', row).group(1)


def test_an_admin_edit_notes_the_fields_and_marvels_values(admin_client, iron_man):
    edit(admin_client, iron_man, description="Tony Stark, edited here.", comics=["43495", "43501"])
    assert iron_man.description == "Tony Stark, edited here."
    assert iron_man.comic_ids() == [43495, 43501]
    # Marvel's values, kept for a reset; untouched fields are not noted.
    assert iron_man.local_edits == {
        "description": MARVEL_DESCRIPTION,
        "comics": [43495, 43501, 43506],
    }
    # A second edit of the same field keeps Marvel's value, not the first edit's.
    edit(admin_client, iron_man, description="Edited twice.", name="Iron Man (Tony Stark)")
    assert iron_man.local_edits == {
        "description": MARVEL_DESCRIPTION,
        "comics": [43495, 43501, 43506],
        "name": "Iron Man",
    }


def test_the_image_is_one_group_and_an_edit_back_to_marvels_value_follows_marvel(
    admin_client, iron_man
):
    edit(admin_client, iron_man, thumbnail_extension="png")
    assert iron_man.local_edits == {"image": [IMAGE_PATH, "jpg", None]}  # no upload at Marvel
    edit(admin_client, iron_man, thumbnail_extension="jpg")
    assert iron_man.local_edits is None


def test_the_admin_shows_what_is_edited_here(admin_client, iron_man):
    make_character(5, "Untouched")
    edit(admin_client, iron_man, description="Edited.", comics=["43495"])
    added = admin_client.post(
        f"{CHANGELIST}add/", {"name": "Made Here", "urls": "[]", "_save": "Save"}
    )
    assert added.status_code == 302
    html = admin_client.get(CHANGELIST).content.decode()
    assert row_cell(html, "Iron Man", "edited_here") == "comics, description"
    assert row_cell(html, "Untouched", "edited_here") == "–"
    assert row_cell(html, "Made Here", "edited_here") == "added here"

    form = admin_client.get(f"{CHANGELIST}{IRON_MAN}/change/").content.decode()
    assert "Marvel, with fields edited here" in form
    assert "<li>comics: Marvel has 3 comics</li>" in form
    assert f"<li>description: Marvel has “{MARVEL_DESCRIPTION}”</li>" in form
    # Each edited field says so where it is edited; the others do not.
    assert form.count("Edited here: imports keep this value.") == 2
    untouched = admin_client.get(f"{CHANGELIST}5/change/").content.decode()
    assert "Marvel: imports update every field." in untouched
    assert "Edited here: imports keep this value." not in untouched
    local = Character.objects.get(name="Made Here")
    assert (
        "Added here: imports never change it."
        in admin_client.get(f"{CHANGELIST}{local.pk}/change/").content.decode()
    )


def test_reset_to_marvels_data_restores_fields_and_links_and_logs_it(admin_client, iron_man):
    untouched = make_character(5, "Untouched")
    edit(admin_client, iron_man, description="Edited.", comics=["43495"], name="Tin Man")
    response = admin_client.post(
        CHANGELIST,
        {"action": "reset_to_marvel", "_selected_action": [str(IRON_MAN), "5"]},
        follow=True,
    )
    assert "1 of 2 reset to Marvel&#x27;s data" in response.content.decode()
    iron_man.refresh_from_db()
    assert (iron_man.name, iron_man.description) == ("Iron Man", MARVEL_DESCRIPTION)
    assert iron_man.comic_ids() == [43495, 43501, 43506]
    assert iron_man.local_edits is None
    entry = LogEntry.objects.filter(object_id=str(IRON_MAN)).order_by("-action_time").first()
    assert entry.action_flag == CHANGE
    assert entry.change_message == "Reset to Marvel's data: comics, description, name."
    assert not LogEntry.objects.filter(object_id=str(untouched.pk)).exists()


def test_deleting_a_marvel_character_leaves_a_tombstone(admin_client, iron_man):
    local = Character.objects.create(name="Made Here")
    for character in (iron_man, local):
        url = f"{CHANGELIST}{character.pk}/delete/"
        assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Character.objects.filter(pk__in=[IRON_MAN, local.pk]).exists()
    # Marvel's character is remembered, the local one simply gone.
    assert list(DeletedCharacter.objects.values_list("id", "name")) == [(IRON_MAN, "Iron Man")]
    assert Comic.objects.filter(pk=43495).exists()


def test_bulk_delete_leaves_tombstones_too(admin_client):
    for number in (1, 2):
        make_character(number, f"Hero {number}")
    response = admin_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": ["1", "2"], "post": "yes"}
    )
    assert response.status_code == 302
    assert sorted(DeletedCharacter.objects.values_list("id", flat=True)) == [1, 2]
    assert not Character.objects.exists()


def test_tombstones_are_listed_and_lifted_with_a_log_entry(admin_client, iron_man):
    admin_client.post(f"{CHANGELIST}{IRON_MAN}/delete/", {"post": "yes"})
    html = admin_client.get(DELETED).content.decode()
    assert "Iron Man" in html
    assert "Let imports re-create them" in html
    assert "delete_selected" not in html
    assert admin_client.get(f"{DELETED}?q={IRON_MAN}").status_code == 200
    response = admin_client.post(
        DELETED, {"action": "let_imports_recreate", "_selected_action": [str(IRON_MAN)]}
    )
    assert response.status_code == 302
    assert not DeletedCharacter.objects.exists()
    entry = LogEntry.objects.get(
        object_id=str(IRON_MAN), action_flag=DELETION, content_type__model="deletedcharacter"
    )
    assert entry.object_repr == "Iron Man"


def test_comic_edits_are_noted_and_marvel_comics_are_not_deleted_here(admin_client, iron_man):
    url = f"{COMICS}43495/change/"
    response = admin_client.post(url, {"title": "Avengers (2012) #1 (fixed)", "resource_uri": ""})
    assert response.status_code == 302
    comic = Comic.objects.get(pk=43495)
    assert comic.local_edits == {"title": "Avengers (2012) #1"}
    # Marvel's comic would come back with the next import: not deletable here.
    assert admin_client.post(f"{COMICS}43495/delete/", {"post": "yes"}).status_code == 403
    assert Comic.objects.filter(pk=43495).exists()
    local = Comic.objects.create(title="Made Here #1")
    assert local.id >= LOCAL_ID_START
    assert admin_client.post(f"{COMICS}{local.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Comic.objects.filter(pk=local.pk).exists()
