"""Reading uploads: one index-served round trip on GridFS, then kept in the process's memory
(characters/store/bytes_cache.py), and a deleted name never served from there."""

import io
import os
import threading

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from characters import images
from characters.store.bytes_cache import BytesCache, CachedFile
from tests.support.query_plans import plans_of

on_mongodb = pytest.mark.mongodb("GridFS")


def kept(size: int, content_type="image/png") -> CachedFile:
    return CachedFile(b"x" * size, content_type)


# --- the cache on its own (no database) -------------------------------------------------------


def test_the_least_recently_used_go_first_within_the_total():
    cache = BytesCache(max_bytes=300, max_file_bytes=200)
    for name in "abc":
        cache.put(name, kept(100), cache.token())
    assert cache.get("a") is not None  # now the most recently used
    cache.put("d", kept(100), cache.token())
    assert [name for name in "abcd" if cache.get(name)] == ["a", "c", "d"]
    assert cache.total_bytes == 300


def test_files_above_the_cap_are_not_kept_and_nothing_with_a_zero_total():
    cache = BytesCache(max_bytes=300, max_file_bytes=200)
    cache.put("big", kept(201), cache.token())
    assert (cache.get("big"), cache.total_bytes) == (None, 0)
    off = BytesCache(max_bytes=0, max_file_bytes=200)
    off.put("small", kept(1), off.token())
    assert (off.get("small"), len(off)) == (None, 0)


def test_a_read_that_began_before_a_delete_is_not_kept():
    cache = BytesCache(max_bytes=300, max_file_bytes=200)
    token = cache.token()  # a read begins ...
    cache.forget("a")  # ... the name is deleted meanwhile ...
    cache.put("a", kept(10), token)  # ... and its bytes come back
    assert cache.get("a") is None
    cache.put("a", kept(10), cache.token())
    cache.forget("a")
    assert (cache.get("a"), cache.total_bytes) == (None, 0)


def test_threads_keep_the_total_within_its_bound():
    cache = BytesCache(max_bytes=1000, max_file_bytes=100)

    def work(worker):
        for n in range(500):
            name = f"{worker}-{n % 37}"
            if cache.get(name) is None:
                cache.put(name, kept(1 + n % 100), cache.token())
            if n % 50 == 0:
                cache.forget(name)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.total_bytes == sum(len(cache.get(name).data) for name in list(cache._files))
    assert 0 < cache.total_bytes <= 1000


# --- GridFS: one round trip, then none ---------------------------------------------------------


@pytest.fixture
def gridfs_storage():
    from characters.store.gridfs import GridFSStorage

    return GridFSStorage()


def stored_png(storage) -> str:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 200, 30)).save(out, "PNG")
    content = ContentFile(out.getvalue())
    content.content_type = "image/png"
    return storage.save("characters/test/original", content)


@on_mongodb
@pytest.mark.django_db
def test_a_file_is_one_index_served_round_trip_then_none(gridfs_storage):
    name = stored_png(gridfs_storage)
    opened = []
    plans = plans_of(lambda: opened.append(gridfs_storage.open(name)))
    assert [plan.collection for plan in plans] == ["uploads.files"]
    assert plans[0].scans == []
    assert plans[0].docs_examined <= 2  # the file's document and its one chunk
    assert opened[0].content_type == "image/png"
    again = []
    assert plans_of(lambda: again.append(gridfs_storage.open(name))) == []
    assert again[0].read() == opened[0].read()
    assert again[0].content_type == "image/png"


@on_mongodb
@pytest.mark.django_db
def test_the_newest_file_of_a_name_is_read(gridfs_storage):
    bucket = gridfs_storage.bucket
    bucket.upload_from_stream("twice", b"older", metadata={"content_type": "text/plain"})
    bucket.upload_from_stream("twice", b"newer", metadata={"content_type": "image/png"})
    file = gridfs_storage.open("twice")
    assert (file.read(), file.content_type) == (b"newer", "image/png")


@on_mongodb
@pytest.mark.django_db
def test_a_file_of_several_chunks_is_read_whole_and_not_kept(gridfs_storage):
    from characters.store import gridfs as gridfs_module

    data = os.urandom(gridfs_module.CHUNK_BYTES + 12345)
    name = gridfs_storage.save("several-chunks", ContentFile(data))
    plans = plans_of(lambda: gridfs_storage.open(name))
    assert [plan.collection for plan in plans] == ["uploads.files", "uploads.chunks"]
    assert all(plan.scans == [] for plan in plans)
    assert gridfs_storage.open(name).read() == data
    assert gridfs_storage.cache.get(name) is None  # above the size cap: read every time


@on_mongodb
@pytest.mark.django_db
def test_a_deleted_file_is_not_served_from_memory(gridfs_storage):
    name = stored_png(gridfs_storage)
    gridfs_storage.open(name)
    assert gridfs_storage.cache.get(name) is not None
    gridfs_storage.delete(name)
    with pytest.raises(FileNotFoundError):
        gridfs_storage.open(name)
    with pytest.raises(FileNotFoundError):
        gridfs_storage.open("never-stored")


@on_mongodb
@pytest.mark.django_db
def test_with_the_cache_off_every_read_goes_to_the_database():
    from characters.store.gridfs import GridFSStorage

    storage = GridFSStorage(cache_bytes=0)
    name = stored_png(storage)
    for _ in range(2):
        assert len(plans_of(lambda: storage.open(name))) == 1


@on_mongodb
@pytest.mark.django_db
def test_the_site_storage_takes_its_cache_size_from_the_settings(settings):
    from django.core.files.storage import default_storage

    assert default_storage.cache.max_bytes == settings.UPLOADS_CACHE_MB * 1024 * 1024 > 0


@on_mongodb
@pytest.mark.django_db
def test_an_image_served_twice_reads_once(client, gridfs_storage):
    from characters.models import Character
    from tests.support.page_data import make_character

    png = images.encode(Image.new("RGB", (50, 50)), "PNG").data
    prepared = images.prepare(SimpleUploadedFile("hulk.png", png))
    character = make_character(1009351, "Hulk")
    Character.objects.filter(pk=character.pk).update(image_upload=images.store(prepared))
    character.refresh_from_db()
    url = character.upload_url("card")
    first = plans_of(lambda: client.get(url))
    assert len(first) == 1
    responses = []
    assert plans_of(lambda: responses.append(client.get(url))) == []
    assert responses[0].status_code == 200
    assert responses[0]["Content-Type"] == "image/png"
    assert responses[0].content == prepared.sizes["card"].data
