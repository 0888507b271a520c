"""`manage.py sweep_uploads`: stored uploads no character shows (a crash between a save's
commit and its deferred delete) are deleted once older than the grace period, never one in
use or one a save in flight may still take; both backends."""

import datetime as dt
import io
import os

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from PIL import Image

from characters import images
from characters.models import Character
from tests.support.page_data import make_character

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/characters/character/"


@pytest.fixture(autouse=True)
def uploads_folder(settings, tmp_path):
    """No file from an earlier test: a folder of this test's own, or an empty GridFS bucket
    (the test database's flush between tests leaves GridFS alone)."""
    if settings.ON_MONGODB:
        for kind in ("files", "chunks"):
            connection.database[f"uploads.{kind}"].delete_many({})
    else:
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {**settings.STORAGES["default"], "OPTIONS": {"location": tmp_path}},
        }


def stored(colour) -> str:
    out = io.BytesIO()
    Image.new("RGB", (120, 80), colour).save(out, "PNG")
    return images.store(images.prepare(SimpleUploadedFile("x.png", out.getvalue())))


def files_of(sha256: str) -> list[str]:
    return [
        name
        for variant in images.VARIANTS
        if default_storage.exists(name := images.stored_name(sha256, variant))
    ]


def backdate(sha256: str, hours: float) -> None:
    """Make an upload's files look stored `hours` ago."""
    then = timezone.now() - dt.timedelta(hours=hours)
    if connection.vendor == "mongodb":
        files = connection.database["uploads.files"]
        pattern = f"^{images.FOLDER}/{sha256}/"
        files.update_many({"filename": {"$regex": pattern}}, {"$set": {"uploadDate": then}})
    else:
        for name in files_of(sha256):
            os.utime(default_storage.path(name), (then.timestamp(), then.timestamp()))


def sweep(*args) -> str:
    out = io.StringIO()
    call_command("sweep_uploads", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def shown_and_unused():
    shown, unused = stored((200, 0, 0)), stored((0, 200, 0))
    hulk = make_character(1009351, "Hulk")
    Character.objects.filter(pk=hulk.pk).update(image_upload=shown)
    for sha256 in (shown, unused):
        backdate(sha256, hours=2)
    return shown, unused


def test_an_old_unused_upload_is_deleted_in_every_size(shown_and_unused):
    shown, unused = shown_and_unused
    assert len(files_of(unused)) == 3
    output = sweep()
    assert files_of(unused) == []
    assert len(files_of(shown)) == 3
    assert f"deleted {unused} (3 files)" in output
    assert output.splitlines()[-1] == (
        "1 unused upload deleted (3 files); 0 unused but stored within 60 minutes left; 1 in use"
    )
    assert sweep().splitlines()[-1].startswith("0 unused uploads deleted (0 files)")


def test_a_dry_run_lists_and_deletes_nothing(shown_and_unused):
    _, unused = shown_and_unused
    output = sweep("--dry-run")
    assert f"would delete {unused} (3 files)" in output
    assert len(files_of(unused)) == 3


def test_an_upload_within_the_grace_period_is_left(shown_and_unused):
    _, unused = shown_and_unused
    fresh = stored((0, 0, 200))  # a save that has not committed yet
    output = sweep("--grace-minutes", "30")
    assert len(files_of(fresh)) == 3
    assert files_of(unused) == []
    assert "1 unused but stored within 30 minutes left" in output
    backdate(fresh, hours=1)
    sweep("--grace-minutes", "30")
    assert files_of(fresh) == []


def test_a_grace_below_a_minute_is_refused(shown_and_unused):
    _, unused = shown_and_unused
    with pytest.raises(CommandError, match="at least 1"):
        sweep("--grace-minutes", "0")
    assert len(files_of(unused)) == 3


def test_nothing_uploaded_yet_sweeps_nothing():
    assert sweep().splitlines()[-1].startswith("0 unused uploads deleted (0 files)")


def test_the_files_a_crash_left_behind_are_swept_and_no_longer_served(
    admin_client, client, monkeypatch
):
    hulk = make_character(1009351, "Hulk")
    sha256 = stored((90, 90, 90))
    Character.objects.filter(pk=hulk.pk).update(
        image_upload=sha256, local_edits={"image": [hulk.thumbnail_path, "jpg", None]}
    )
    url = f"/images/{sha256}/card/"
    assert client.get(url).status_code == 200
    # The reset commits, and the process dies before its deferred delete of the files runs.
    deferred = []
    monkeypatch.setattr(images, "delete_when_unused", lambda sha, using: deferred.append(sha))
    response = admin_client.post(
        CHANGELIST, {"action": "reset_to_marvel", "_selected_action": [str(hulk.pk)]}
    )
    assert response.status_code == 302
    assert deferred == [sha256]
    assert Character.objects.get(pk=hulk.pk).image_upload is None
    assert len(files_of(sha256)) == 3
    assert images.sweep_orphans().young == [sha256]  # just reset: within the grace period
    later = timezone.now() + images.SWEEP_GRACE + dt.timedelta(minutes=1)
    result = images.sweep_orphans(now=later)
    assert list(result.swept) == [sha256]
    assert files_of(sha256) == []
    assert client.get(url).status_code == 404


def test_the_same_bytes_uploaded_again_are_not_swept(shown_and_unused):
    _, unused = shown_and_unused
    # An editor uploads the unused image's very bytes: store() finds them stored (no new
    # file) and marks them stored now, so the sweep leaves them while the save commits.
    assert stored((0, 200, 0)) == unused
    result = images.sweep_orphans()
    assert unused in result.young
    assert len(files_of(unused)) == 3
