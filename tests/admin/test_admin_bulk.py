"""The admin's bulk actions on hundreds of rows: "Reset to Marvel's data" and "Let imports
re-create them" send as many queries for 400 rows as for 40 (but SQLite's batches), and
do the work."""

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext

from characters.models import CatalogueVersion, Character, Comic, DeletedCharacter
from tests.support.page_data import make_many

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/characters/character/"
TOMBSTONES = "/admin/characters/deletedcharacter/"
SIZES = (40, 400)
# SQLite cuts a bulk write into batches under its limit of parameters a statement (999): a
# few more at 400 rows. MongoDB sends each as one command.
MORE_BATCHES = 0 if connection.vendor == "mongodb" else 4


def edit_all(count):
    """`count` characters linked to two comics, each edited here: the description for all,
    the name for every third, the comics (one dropped, one added) for every other."""
    make_many(count, comics_each=2)
    Comic.objects.create(id=200_000, title="Ours #1")
    link = Character.comics.through
    for character in Character.objects.all():
        edits = {"description": ""}
        if character.pk % 3 == 0:
            edits["name"] = character.name
        if character.pk % 2 == 0:
            edits["comics"] = [100_000, 100_001]
        Character.objects.filter(pk=character.pk).update(
            description="Ours",
            name=f"Ours {character.pk}" if "name" in edits else character.name,
            local_edits=edits,
        )
        if "comics" in edits:
            link.objects.filter(character_id=character.pk, comic_id=100_001).delete()
            link.objects.create(character_id=character.pk, comic_id=200_000)


def reset_all(admin_client):
    ids = [str(pk) for pk in Character.objects.values_list("pk", flat=True)]
    form = {"action": "reset_to_marvel", "_selected_action": ids, "index": "0"}
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.post(CHANGELIST, form)
    assert response.status_code == 302
    return len(queries)


def test_reset_to_marvel_takes_as_many_queries_for_400_rows_as_for_40(admin_client):
    counts = []
    for size in SIZES:
        Character.objects.all().delete()
        Comic.objects.all().delete()
        LogEntry.objects.all().delete()
        edit_all(size)
        before = CatalogueVersion.objects.get(pk=1).token
        counts.append(reset_all(admin_client))
        assert not Character.objects.filter(local_edits__isnull=False).exists()
        assert not Character.objects.filter(description="Ours").exists()
        assert not Character.objects.filter(name__startswith="Ours").exists()
        links = Character.comics.through.objects
        assert not links.filter(comic_id=200_000).exists()
        assert links.filter(comic_id=100_001).count() == size
        assert LogEntry.objects.filter(action_flag=CHANGE).count() == size
        messages = set(LogEntry.objects.values_list("change_message", flat=True))
        assert "Reset to Marvel's data: comics, description, name." in messages
        assert CatalogueVersion.objects.get(pk=1).token != before
        assert set(Character.objects.values_list("version", flat=True)) == {2}
    assert counts[0] >= 5, counts  # the queries were seen
    assert counts[1] <= counts[0] + MORE_BATCHES, counts
    assert counts[1] <= 25, counts


def test_reset_to_marvel_finds_nothing_to_reset(admin_client):
    make_many(3)
    ids = [str(pk) for pk in Character.objects.values_list("pk", flat=True)]
    response = admin_client.post(
        CHANGELIST, {"action": "reset_to_marvel", "_selected_action": ids}, follow=True
    )
    assert "Nothing to reset: none of them was edited here." in response.content.decode()
    assert not LogEntry.objects.exists()


def test_let_imports_recreate_takes_as_many_queries_for_400_rows_as_for_40(admin_client):
    counts = []
    for size in SIZES:
        DeletedCharacter.objects.all().delete()
        DeletedCharacter.objects.bulk_create(
            [DeletedCharacter(id=5000 + n, name=f"Gone {n:03d}") for n in range(size)]
        )
        ids = [str(pk) for pk in DeletedCharacter.objects.values_list("pk", flat=True)]
        form = {"action": "let_imports_recreate", "_selected_action": ids, "index": "0"}
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.post(TOMBSTONES, form)
        assert response.status_code == 302
        counts.append(len(queries))
        assert not DeletedCharacter.objects.exists()
        assert LogEntry.objects.filter(action_flag=DELETION).count() >= size
    assert counts[0] >= 5, counts  # the queries were seen
    assert counts[1] <= counts[0] + MORE_BATCHES, counts
    assert counts[1] <= 20, counts
