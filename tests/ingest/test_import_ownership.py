"""Imports honour what editors own (characters/ownership.py), through seed_marvel, on both
backends: the issue's scenario (edit, unlink, add, delete in the admin, then import), Marvel's
later changes, and the explicit way back (--overwrite-local-edits).
"""

import copy
import json

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.core.management import CommandError

from characters.models import Character, Comic, DeletedCharacter
from characters.models import CharacterComic as Link
from tests.support.seeded_files import IRON_MAN, THREE_D_MAN, raw_records, seed, write

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/characters/character/"
EDITED = "Tony Stark, as our editors tell it."


@pytest.fixture(scope="module")
def raw():
    return raw_records()


def comic_ids(record):
    return sorted(int(item["resourceURI"].rsplit("/", 1)[1]) for item in record["comics"]["items"])


def links_of(character_id):
    return sorted(Link.objects.filter(character_id=character_id).values_list("comic_id", flat=True))


def record_of(records, character_id):
    return next(r for r in records if r["id"] == character_id)


@pytest.fixture
def edited(admin_client, tmp_path, raw):
    """The issue's scenario: imported, then in the admin Iron Man's description edited and
    one of his comics removed, a character added and 3-D Man deleted."""
    path = write(tmp_path, raw)
    seed(path)
    iron_man = Character.objects.get(pk=IRON_MAN)
    marvel_comics = comic_ids(record_of(raw, IRON_MAN))
    form = {
        "name": iron_man.name,
        "description": EDITED,
        "comics": [str(c) for c in marvel_comics[1:]],
        "thumbnail_path": iron_man.thumbnail_path,
        "thumbnail_extension": iron_man.thumbnail_extension,
        "urls": json.dumps(iron_man.urls),
        "_save": "Save",
    }
    assert admin_client.post(f"{CHANGELIST}{IRON_MAN}/change/", form).status_code == 302
    added = {"name": "Made Here", "description": "Ours.", "urls": "[]", "_save": "Save"}
    assert admin_client.post(f"{CHANGELIST}add/", added).status_code == 302
    deleted = admin_client.post(f"{CHANGELIST}{THREE_D_MAN}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    return path


def test_an_import_keeps_admin_edits_and_says_so(edited, raw):
    entries = LogEntry.objects.count()
    made_here = Character.objects.get(name="Made Here")
    result, line = seed(edited)

    iron_man = Character.objects.get(pk=IRON_MAN)
    assert iron_man.description == EDITED
    assert links_of(IRON_MAN) == comic_ids(record_of(raw, IRON_MAN))[1:]
    assert not Character.objects.filter(pk=THREE_D_MAN).exists()
    assert Character.objects.get(pk=made_here.pk).description == "Ours."
    # Held back: the description, the comic link, and re-creating 3-D Man.
    assert result["local_edits_kept"] == 3
    assert (result["characters_created"], result["characters_updated"]) == (0, 0)
    assert (result["links_created"], result["links_deleted"]) == (0, 0)
    assert "; 3 local edits kept; " in line
    assert LogEntry.objects.count() == entries  # an import that keeps edits logs nothing
    # Every run says the same, and writes nothing.
    again, _ = seed(edited)
    assert again["local_edits_kept"] == 3
    assert (again["characters_updated"], again["comics_updated"]) == (0, 0)


def test_untouched_fields_follow_marvel_and_a_reset_takes_marvels_latest(
    edited, raw, tmp_path, admin_client
):
    newer = copy.deepcopy(raw)
    iron_man = record_of(newer, IRON_MAN)
    iron_man["name"] = "Iron Man (Tony Stark)"
    iron_man["description"] = "Marvel's newer description."
    extra = {"resourceURI": "http://gateway.marvel.com/v1/public/comics/999001", "name": "New #1"}
    iron_man["comics"]["items"].append(extra)
    result, _ = seed(write(tmp_path, newer, "newer.json"))

    stored = Character.objects.get(pk=IRON_MAN)
    assert stored.name == "Iron Man (Tony Stark)"  # nobody edited it here
    assert stored.description == EDITED
    assert 999001 not in links_of(IRON_MAN)
    assert Comic.objects.filter(pk=999001).exists()  # Marvel's comic is there for a reset
    assert stored.local_edits == {
        "description": "Marvel's newer description.",
        "comics": comic_ids(iron_man),
    }
    assert result["local_edits_kept"] == 3
    assert result["characters_updated"] == 1

    response = admin_client.post(
        CHANGELIST, {"action": "reset_to_marvel", "_selected_action": [str(IRON_MAN)]}
    )
    assert response.status_code == 302
    stored.refresh_from_db()
    assert stored.description == "Marvel's newer description."
    assert links_of(IRON_MAN) == comic_ids(iron_man)
    assert stored.local_edits is None
    # And from now on Iron Man follows Marvel again.
    assert seed(write(tmp_path, newer, "newer.json"))[0]["local_edits_kept"] == 1  # 3-D Man


def test_when_marvel_catches_up_the_field_follows_marvel_again(edited, raw, tmp_path):
    newer = copy.deepcopy(raw)
    record_of(newer, IRON_MAN)["description"] = EDITED
    result, _ = seed(write(tmp_path, newer, "newer.json"))
    assert result["local_edits_kept"] == 2  # the comic link and 3-D Man
    assert set(Character.objects.get(pk=IRON_MAN).local_edits) == {"comics"}


def test_overwrite_local_edits_restores_marvels_data_with_log_entries(edited, raw):
    made_here = Character.objects.get(name="Made Here")
    result, line = seed(edited, "--overwrite-local-edits")

    iron_man = Character.objects.get(pk=IRON_MAN)
    assert iron_man.description == record_of(raw, IRON_MAN)["description"]
    assert links_of(IRON_MAN) == comic_ids(record_of(raw, IRON_MAN))
    assert iron_man.local_edits is None
    assert links_of(THREE_D_MAN) == comic_ids(record_of(raw, THREE_D_MAN))
    assert not DeletedCharacter.objects.exists()
    assert Character.objects.get(pk=made_here.pk).description == "Ours."  # never touched
    assert (result["local_edits_overwritten"], result["local_edits_kept"]) == (2, 0)
    assert (result["characters_created"], result["links_created"]) == (1, 13)
    assert "; 0 local edits kept, 2 overwritten; " in line

    user = get_user_model().objects.get(username="seed_marvel")
    assert not user.is_active
    assert not user.has_usable_password()
    entries = {
        (e.object_id, e.action_flag, e.change_message)
        for e in LogEntry.objects.filter(user_id=user.pk)
    }
    by = "Reset to Marvel's data by seed_marvel --overwrite-local-edits"
    assert entries == {
        (str(IRON_MAN), CHANGE, f"{by}: comics, description."),
        (str(THREE_D_MAN), ADDITION, f"{by}: deleted here."),
    }
    again, _ = seed(edited)
    assert (again["local_edits_kept"], again["characters_updated"], again["links_created"]) == (
        0,
        0,
        0,
    )


def test_comic_titles_edited_here_are_kept_and_overwritten_on_request(admin_client, tmp_path, raw):
    path = write(tmp_path, raw)
    seed(path)
    comic = Comic.objects.get(pk=21366)
    marvel_title = comic.title
    form = {
        "title": "Avengers: The Initiative (2007) #14 (fixed)",
        "resource_uri": comic.resource_uri,
    }
    assert admin_client.post(f"/admin/characters/comic/{comic.pk}/change/", form).status_code == 302
    kept, _ = seed(path)
    assert kept["local_edits_kept"] == 1
    assert Comic.objects.get(pk=21366).title.endswith("(fixed)")
    overwritten, _ = seed(path, "--overwrite-local-edits")
    assert overwritten["local_edits_overwritten"] == 1
    restored = Comic.objects.get(pk=21366)
    assert (restored.title, restored.local_edits) == (marvel_title, None)
    assert LogEntry.objects.filter(object_id="21366", content_type__model="comic").count() == 2


def test_a_dry_run_counts_what_it_would_keep(edited):
    result, line = seed(edited, "--dry-run")
    assert result["local_edits_kept"] == 3
    assert line.startswith("Dry run, nothing written")


def test_overwriting_is_not_a_dry_run(edited):
    with pytest.raises(CommandError, match="--overwrite-local-edits writes"):
        seed(edited, "--overwrite-local-edits", "--dry-run")
    assert Character.objects.get(pk=IRON_MAN).description == EDITED
