"""Editors' uploaded images (characters/images.py), on both backends: through the admin
change form, served content-addressed (ETag, 304, Range), refused when not an image, kept by
imports and removed with every file by "Reset to Marvel's data"."""

import copy
import hashlib
import io

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image

from characters import images
from characters.models import Character
from tests.support.admin_forms import change_data
from tests.support.page_data import make_character

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/characters/character/"


@pytest.fixture(autouse=True)
def uploads_folder(settings, tmp_path):
    """On SQLite the files go to a folder of this test's own (GridFS: the test database)."""
    if not settings.ON_MONGODB:
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {**settings.STORAGES["default"], "OPTIONS": {"location": tmp_path}},
        }


def picture(image_format="PNG", size=(800, 600), **options) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 40)).save(out, image_format, **options)
    return out.getvalue()


def upload(data: bytes, name="hulk.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/png")


def post_upload(admin_client, character, data: bytes, name="hulk.png"):
    return admin_client.post(
        f"{CHANGELIST}{character.pk}/change/", change_data(character, upload=upload(data, name))
    )


def test_an_upload_is_re_encoded_and_stored_in_three_sizes(admin_client, hulk):
    jpeg = picture("JPEG", (2000, 1000), exif=b"Exif\x00\x00secret-gps-data")
    response = post_upload(admin_client, hulk, jpeg, "hulk.jpg")
    assert response.status_code == 302, response.content.decode()[:2000]
    hulk.refresh_from_db()
    sha = hulk.image_upload
    assert len(sha) == 64
    assert hulk.local_edits["image"] == [hulk.thumbnail_path, hulk.thumbnail_extension, None]
    with default_storage.open(images.stored_name(sha, "original")) as file:
        original = file.read()
    assert hashlib.sha256(original).hexdigest() == sha
    assert b"secret-gps-data" not in original
    sizes = {}
    for variant in images.VARIANTS:
        with default_storage.open(images.stored_name(sha, variant)) as file:
            sizes[variant] = Image.open(file).size
    assert sizes == {"original": (2000, 1000), "card": (464, 232), "detail": (600, 300)}


def test_the_type_served_is_the_stored_one_never_the_name(admin_client, client, hulk, on_mongodb):
    post_upload(admin_client, hulk, picture("WEBP"), "hulk.png")
    hulk.refresh_from_db()
    assert client.get(hulk.upload_url("detail"))["Content-Type"] == "image/webp"
    if on_mongodb:  # GridFS keeps it in the file's metadata, beside the sha256
        files = connection.database["uploads.files"]
        stored = files.find_one({"filename": images.stored_name(hulk.image_upload, "original")})
        assert stored["metadata"] == {"sha256": hulk.image_upload, "content_type": "image/webp"}


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "x.png"),
        (b"<!doctype html><html><script>alert(1)</script></html>", "page.png"),
        (picture("GIF"), "moving.png"),
        (picture("PNG")[:200], "truncated.png"),
    ],
)
def test_not_an_image_is_refused_with_a_clear_error_and_nothing_changes(
    admin_client, hulk, data, name
):
    response = post_upload(admin_client, hulk, data, name)
    assert response.status_code == 200
    assert "is not a JPEG, PNG or WebP image" in response.content.decode()
    hulk.refresh_from_db()
    assert hulk.image_upload is None
    assert hulk.local_edits is None


def test_too_many_pixels_is_refused(admin_client, hulk):
    response = post_upload(admin_client, hulk, picture("PNG", (4097, 10)))
    assert "at most 4096 px a side" in response.content.decode()
    hulk.refresh_from_db()
    assert hulk.image_upload is None


def test_too_many_bytes_is_refused(admin_client, hulk):
    response = post_upload(admin_client, hulk, b"\x89PNG" + b"0" * images.MAX_BYTES)
    assert "images may be at most 5 MB" in response.content.decode()


@pytest.fixture
def uploaded(admin_client, hulk):
    assert post_upload(admin_client, hulk, picture()).status_code == 302
    hulk.refresh_from_db()
    return hulk


def test_pages_show_the_upload(client, admin_client, uploaded):
    card = uploaded.upload_url("card")
    assert card == f"/images/{uploaded.image_upload}/card/"
    assert card in client.get("/characters/").content.decode()
    detail = client.get(uploaded.get_absolute_url()).content.decode()
    assert uploaded.upload_url("detail") in detail
    change = admin_client.get(f"{CHANGELIST}{uploaded.pk}/change/").content.decode()
    assert uploaded.upload_url("detail") in change
    assert "Uploaded here" in change
    assert card in admin_client.get(CHANGELIST).content.decode()


def body(response) -> bytes:
    return response.getvalue()  # a file on disk streams


def test_serve_with_immutable_headers_and_the_stored_type(client, uploaded):
    response = client.get(uploaded.upload_url("original"))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["ETag"] == f'"{uploaded.image_upload}-original"'
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response["X-Content-Type-Options"] == "nosniff"
    with default_storage.open(images.stored_name(uploaded.image_upload, "original")) as file:
        assert body(response) == file.read()
    assert client.get(f"/images/{'0' * 64}/card/").status_code == 404


def test_revalidation_is_a_304_without_any_query(client, uploaded, django_assert_num_queries):
    url = uploaded.upload_url("card")
    etag = client.get(url)["ETag"]
    with django_assert_num_queries(0):
        response = client.get(url, headers={"If-None-Match": f'"other", {etag}'})
    assert response.status_code == 304
    assert response["ETag"] == etag
    assert response.content == b""


def test_a_single_byte_range(client, uploaded):
    url = uploaded.upload_url("original")
    whole = body(client.get(url))
    part = client.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == whole[10:20]
    assert part["Content-Range"] == f"bytes 10-19/{len(whole)}"
    tail = client.get(url, headers={"Range": "bytes=-5"})
    assert (tail.status_code, tail.content) == (206, whole[-5:])
    beyond = client.get(url, headers={"Range": f"bytes={len(whole)}-"})
    assert beyond.status_code == 416
    assert beyond["Content-Range"] == f"bytes */{len(whole)}"
    several = client.get(url, headers={"Range": "bytes=0-1,5-6"})
    assert (several.status_code, body(several)) == (200, whole)
    stale = client.get(url, headers={"Range": "bytes=0-1", "If-Range": '"other"'})
    assert (stale.status_code, body(stale)) == (200, whole)


def test_reset_restores_marvels_image_and_deletes_the_files(
    admin_client, client, uploaded, django_capture_on_commit_callbacks
):
    sha = uploaded.image_upload
    names = [images.stored_name(sha, variant) for variant in images.VARIANTS]
    assert all(default_storage.exists(name) for name in names)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            CHANGELIST, {"action": "reset_to_marvel", "_selected_action": [str(uploaded.pk)]}
        )
    assert response.status_code == 302
    uploaded.refresh_from_db()
    assert uploaded.image_upload is None
    assert uploaded.local_edits is None
    assert not any(default_storage.exists(name) for name in names)
    assert client.get(f"/images/{sha}/card/").status_code == 404
    marvels = uploaded.image_url("portrait_uncanny")
    assert marvels in client.get(uploaded.get_absolute_url()).content.decode()


def test_reset_keeps_files_another_character_shows(
    admin_client, uploaded, django_capture_on_commit_callbacks
):
    thor = make_character(1009664, "Thor")
    assert post_upload(admin_client, thor, picture()).status_code == 302
    thor.refresh_from_db()
    assert thor.image_upload == uploaded.image_upload
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            CHANGELIST, {"action": "reset_to_marvel", "_selected_action": [str(uploaded.pk)]}
        )
    assert default_storage.exists(images.stored_name(thor.image_upload, "card"))


def test_a_new_upload_replaces_the_old_files(
    admin_client, uploaded, django_capture_on_commit_callbacks
):
    old = uploaded.image_upload
    with django_capture_on_commit_callbacks(execute=True):
        response = post_upload(admin_client, uploaded, picture(size=(100, 100)))
    assert response.status_code == 302
    uploaded.refresh_from_db()
    assert uploaded.image_upload != old
    assert not default_storage.exists(images.stored_name(old, "original"))
    marvels = [uploaded.thumbnail_path, uploaded.thumbnail_extension, None]
    assert uploaded.local_edits["image"] == marvels


def test_a_re_import_keeps_the_upload_and_a_reset_shows_marvels_latest(
    admin_client, tmp_path, django_capture_on_commit_callbacks
):
    from tests.support.seeded_files import IRON_MAN, raw_records, seed, write

    records = raw_records()
    path = write(tmp_path, records)
    seed(path)
    iron_man = Character.objects.get(pk=IRON_MAN)
    assert post_upload(admin_client, iron_man, picture()).status_code == 302
    iron_man.refresh_from_db()
    sha = iron_man.image_upload

    newer = copy.deepcopy(records)
    record = next(r for r in newer if r["id"] == IRON_MAN)
    record["thumbnail"] = {
        "path": "http://i.annihil.us/u/prod/marvel/i/mg/new/iron",
        "extension": "png",
    }
    record["modified"] = "2030-01-01T00:00:00-0500"
    result, _ = seed(write(tmp_path, newer, "newer.json"))
    assert result["local_edits_kept"] >= 1
    iron_man.refresh_from_db()
    assert iron_man.image_upload == sha
    assert iron_man.local_edits["image"] == [record["thumbnail"]["path"], "png", None]
    assert default_storage.exists(images.stored_name(sha, "card"))

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            CHANGELIST, {"action": "reset_to_marvel", "_selected_action": [str(IRON_MAN)]}
        )
    iron_man.refresh_from_db()
    assert (iron_man.image_upload, iron_man.thumbnail_path) == (None, record["thumbnail"]["path"])
    assert not default_storage.exists(images.stored_name(sha, "card"))


def test_an_upload_costs_no_more_than_three_round_trips_on_the_public_page(
    admin_client, client, hulk
):
    def page_queries():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(hulk.get_absolute_url()).status_code == 200
        return len(queries)

    before = page_queries()
    assert post_upload(admin_client, hulk, picture()).status_code == 302
    hulk.refresh_from_db()
    after = page_queries()
    assert after <= before + 3
    assert hulk.upload_url("detail") in client.get(hulk.get_absolute_url()).content.decode()


@pytest.fixture
def imported_with_upload(admin_client, tmp_path):
    from tests.support.seeded_files import IRON_MAN, raw_records, seed, write

    path = write(tmp_path, raw_records())
    seed(path)
    iron_man = Character.objects.get(pk=IRON_MAN)
    assert post_upload(admin_client, iron_man, picture()).status_code == 302
    iron_man.refresh_from_db()
    return path, iron_man


def test_an_unchanged_re_import_keeps_the_upload_owned_here(imported_with_upload):
    from tests.support.seeded_files import seed

    path, iron_man = imported_with_upload
    marvels = iron_man.local_edits["image"]
    seed(path)
    iron_man.refresh_from_db()
    assert iron_man.image_upload is not None
    assert iron_man.local_edits["image"] == marvels


def test_overwriting_local_edits_drops_the_upload_and_its_files(
    imported_with_upload, django_capture_on_commit_callbacks
):
    from tests.support.seeded_files import seed

    path, iron_man = imported_with_upload
    sha = iron_man.image_upload
    with django_capture_on_commit_callbacks(execute=True):
        seed(path, "--overwrite-local-edits")
    iron_man.refresh_from_db()
    assert (iron_man.image_upload, iron_man.local_edits) == (None, None)
    assert not default_storage.exists(images.stored_name(sha, "original"))
