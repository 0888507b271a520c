"""One admin save is one transaction on both backends: a save that fails part way (here its
comics' write, as when the server goes away between two writes) leaves the character as it
was: no name without its comics, no "edited here" mark, no history entry, no new version."""

import pytest
from django.contrib.admin.models import LogEntry
from django.db import DatabaseError

from characters.models import CatalogueVersion, Character
from tests.support.admin_forms import flat, form_values

pytestmark = pytest.mark.django_db(transaction=True)

CHANGE = "/admin/characters/character/{}/change/"


def test_a_save_failing_part_way_leaves_the_old_state(admin_client, imported, monkeypatch):
    before = Character.objects.values().get(pk=imported.pk)
    comics_before = imported.comic_ids()
    token = CatalogueVersion.objects.values_list("token", flat=True).first()
    opened = form_values(admin_client.get(CHANGE.format(imported.pk)).content.decode())

    def server_gone(self, comic_ids):
        raise DatabaseError("the server went away between two writes")

    monkeypatch.setattr(Character, "set_comic_ids", server_gone)
    answer = admin_client.post(
        CHANGE.format(imported.pk),
        flat(opened, name="Half", description="Half saved", comics=opened["comics"][1:]),
    )
    assert answer.status_code == 503
    assert Character.objects.values().get(pk=imported.pk) == before
    assert imported.comic_ids() == comics_before
    assert not LogEntry.objects.exists()
    assert CatalogueVersion.objects.values_list("token", flat=True).first() == token

    monkeypatch.undo()  # the server is back: the same form saves whole
    answer = admin_client.post(
        CHANGE.format(imported.pk),
        flat(opened, name="Whole", description="Saved whole", comics=opened["comics"][1:]),
    )
    assert answer.status_code == 302
    row = Character.objects.get(pk=imported.pk)
    assert (row.name, row.description, row.version) == ("Whole", "Saved whole", 2)
    assert sorted(map(str, row.comic_ids())) == sorted(opened["comics"][1:])
    assert set(row.local_edits) == {"name", "description", "comics"}
    assert LogEntry.objects.count() == 1


def test_the_catalogue_version_is_written_once_at_the_end_of_a_save():
    def token():
        return CatalogueVersion.objects.values_list("token", flat=True).first()

    CatalogueVersion.bump()
    before = token()
    with CatalogueVersion.bumped_once("default"):
        Character.objects.create(id=5, name="Five")  # a bump by signal
        CatalogueVersion.bump()
        assert token() == before  # held until the block's end
    after = token()
    assert after != before
    with CatalogueVersion.bumped_once("default"):
        pass  # nothing written: no bump
    assert token() == after
