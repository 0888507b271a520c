"""One admin save is one transaction on both backends: a save that fails part way (here its
comics' write, as when the server goes away between two writes) leaves the character as it
was: no name without its comics, no "edited here" mark, no history entry, no new version.
A save that meets another writer's commit runs again, for a time, not a count of tries."""

import time
from functools import partial

import pytest
from django.contrib.admin.models import LogEntry
from django.db import DatabaseError

from characters import admin as characters_admin
from characters import bookkeeping
from characters.model_bases import RowChanged
from characters.models import CatalogueVersion, Character
from characters.store.errors import OperationFailure, ServerSelectionTimeoutError
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


def chained(error: Exception, cause: Exception) -> Exception:
    error.__cause__ = cause
    return error


def write_conflict() -> Exception:
    """What the backend raises when a transaction met another's write (its cause says so)."""
    labels = {"errorLabels": ["TransientTransactionError"]}
    return chained(DatabaseError(), OperationFailure("WriteConflict", code=112, details=labels))


def failing_bumps(monkeypatch, error, times: int = -1) -> list[int]:
    """Make the catalogue version's bump, a save's last write (after its history entry and
    its "changed successfully" message), raise error() `times` times (every time for a
    negative count); the returned list counts the tries."""
    tries = []
    bump = CatalogueVersion.bump

    def failing(cls, using=None):
        if getattr(bookkeeping._bumps, "pending", None) is not None:
            return bump(using)  # a write's bump, deferred to the save's end: not the write
        tries.append(1)
        if len(tries) > 10_000:
            pytest.fail("the save never stopped trying")
        if times < 0 or len(tries) <= times:
            raise error()
        return bump(using)

    monkeypatch.setattr(CatalogueVersion, "bump", classmethod(failing))
    monkeypatch.setattr(characters_admin, "SAVE_PAUSE", 0.0005)
    monkeypatch.setattr(characters_admin, "SAVE_PAUSE_LIMIT", 0.002)
    monkeypatch.setattr(characters_admin, "SAVE_BUDGET", 60)
    return tries


def successes_shown(admin_client) -> int:
    page = admin_client.get("/admin/characters/character/").content.decode()
    return page.count("was changed successfully")


def save_comics_and_name(admin_client, row, name):
    opened = form_values(admin_client.get(CHANGE.format(row.pk)).content.decode())
    form = flat(opened, name=name, description=f"{name} text", comics=opened["comics"][1:])
    return admin_client.post(CHANGE.format(row.pk), form), opened["comics"][1:]


def test_a_save_losing_many_races_in_a_row_still_lands(admin_client, imported, monkeypatch):
    # Many concurrent writers on a busy machine: a save may lose a dozen times and more.
    tries = failing_bumps(monkeypatch, write_conflict, times=25)
    answer, comics = save_comics_and_name(admin_client, imported, "Late")
    assert answer.status_code == 302
    assert len(tries) == 26
    row = Character.objects.get(pk=imported.pk)
    assert (row.name, row.description, row.version) == ("Late", "Late text", 2)
    assert sorted(map(str, row.comic_ids())) == sorted(comics)
    assert LogEntry.objects.count() == 1  # the failed tries' entries were rolled back
    assert successes_shown(admin_client) == 1  # and their messages dropped


def test_a_save_that_keeps_losing_stops_at_its_time_budget(admin_client, imported, monkeypatch):
    before = Character.objects.values().get(pk=imported.pk)
    tries = failing_bumps(monkeypatch, write_conflict)
    monkeypatch.setattr(characters_admin, "SAVE_BUDGET", 0.5)
    started = time.monotonic()
    answer, _ = save_comics_and_name(admin_client, imported, "Never")
    took = time.monotonic() - started
    assert answer.status_code == 503
    assert len(tries) > 2
    assert 0.5 - characters_admin.SAVE_PAUSE_LIMIT <= took < 5
    assert Character.objects.values().get(pk=imported.pk) == before
    assert not LogEntry.objects.exists()
    assert successes_shown(admin_client) == 0


def test_a_row_changing_under_every_try_ends_in_the_503_page(admin_client, imported, monkeypatch):
    tries = failing_bumps(monkeypatch, lambda: RowChanged("changed since it was read"))
    monkeypatch.setattr(characters_admin, "SAVE_BUDGET", 0.3)
    answer, _ = save_comics_and_name(admin_client, imported, "Never")
    assert answer.status_code == 503
    assert len(tries) > 2
    assert Character.objects.get(pk=imported.pk).version == 1


def test_a_commit_refused_by_an_election_runs_again(admin_client, imported, monkeypatch):
    # The driver's own error, as a failed commit raises it (not wrapped by the backend).
    labels = {"errorLabels": ["TransientTransactionError"]}
    aborted = partial(OperationFailure, "NoSuchTransaction", code=251, details=labels)
    tries = failing_bumps(monkeypatch, aborted, times=1)
    answer, _ = save_comics_and_name(admin_client, imported, "Again")
    assert answer.status_code == 302
    assert len(tries) == 2
    assert Character.objects.get(pk=imported.pk).name == "Again"


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(
            lambda: chained(DatabaseError(), ServerSelectionTimeoutError("no primary")),
            id="no-primary-after-waiting",
        ),
        pytest.param(
            lambda: OperationFailure(
                "commit", code=91, details={"errorLabels": ["UnknownTransactionCommitResult"]}
            ),
            id="commit-outcome-unknown",
        ),
    ],
)
def test_a_save_is_not_run_again_after(error, admin_client, imported, monkeypatch):
    tries = failing_bumps(monkeypatch, error)
    answer, _ = save_comics_and_name(admin_client, imported, "Once")
    assert answer.status_code == 503
    assert len(tries) == 1
    assert successes_shown(admin_client) == 0
