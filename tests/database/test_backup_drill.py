"""The backup drill that runs here (docs/operations.md, "Backups of uploaded images"): an image
uploaded through the real admin survives a filesystem backup of the dbpath and a restore.

mongodump and mongorestore cannot be installed on this machine (neither Debian nor PyPI has
them), so the drill takes MongoDB's documented filesystem backup instead: writes held with
fsyncLock, the dbpath copied, fsyncUnlock. The live site then resets the character (its upload
deleted), and the copy is restored as MongoDB documents it for a replica set (started alone,
its `local` database dropped, started again as a new one-member set) and served by a second
gunicorn: the same bytes, by sha256. Real processes throughout, a replica set of its own.
"""

import contextlib
import hashlib
import io
import shutil
import socket
import subprocess
import time

import pytest
import requests
from PIL import Image, ImageDraw
from pymongo import MongoClient
from pymongo.errors import AutoReconnect

from tests.support.admin_forms import flat
from tests.support.live_site import (
    CHANGE,
    HOST,
    Editor,
    ReplicaSet,
    free_port,
    gunicorn,
    served_site,
)

pytestmark = [pytest.mark.mongodb("a backup of a replica set"), pytest.mark.slow]

REPLICA_SET = "rs0"
CHANGELIST = "/admin/characters/character/"


def drill_image() -> bytes:
    image = Image.new("RGB", (640, 480), (30, 60, 150))
    ImageDraw.Draw(image).ellipse((120, 80, 520, 400), fill=(230, 200, 40))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def direct(port: int) -> MongoClient:
    uri = f"mongodb://{HOST}:{port}/?directConnection=true"
    return MongoClient(uri, serverSelectionTimeoutMS=5000)


def wait_listening(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"mongod exited with {process.returncode}"
        with contextlib.suppress(OSError), socket.create_connection((HOST, port)):
            return
        time.sleep(0.05)
    raise AssertionError(f"mongod did not listen on {port}")


def filesystem_backup(uri: str, dbpath, copy) -> None:
    """MongoDB's filesystem backup of a running member: writes flushed and held, files copied."""
    with MongoClient(uri, serverSelectionTimeoutMS=10_000) as client:
        client.admin.command("fsync", lock=True)
        try:
            shutil.copytree(
                dbpath, copy, ignore=shutil.ignore_patterns("mongod.lock", "mongod.log")
            )
        finally:
            client.admin.command("fsyncUnlock")


def restore_as_new_set(mongod: str, dbpath, port: int) -> None:
    """MongoDB's restore of a replica set member's files elsewhere, first step: start it alone
    and drop its old set's configuration (the `local` database)."""
    alone = subprocess.Popen(
        [
            mongod,
            f"--port={port}",
            f"--bind_ip={HOST}",
            f"--dbpath={dbpath}",
            f"--logpath={dbpath / 'standalone.log'}",
            "--wiredTigerCacheSizeGB=0.25",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, alone)
        with direct(port) as client:
            client.drop_database("local")
            with contextlib.suppress(AutoReconnect):
                client.admin.command("shutdown")
        alone.wait(timeout=60)
    finally:
        if alone.poll() is None:
            alone.kill()
            alone.wait()


def test_an_uploaded_image_survives_a_filesystem_backup_and_restore(tmp_path):
    live, restored_dir, backup = tmp_path / "live", tmp_path / "restored", tmp_path / "backup"
    for folder in (live, restored_dir, backup):
        folder.mkdir()
    with contextlib.ExitStack() as stack:
        site = stack.enter_context(served_site(live, members=1, seed=("--max-offset", "20")))
        database = site.env["MONGODB_NAME"]
        with MongoClient(site.replica_set.uri) as client:
            character_id = client[database]["characters_character"].find_one({}, sort=[("id", 1)])[
                "id"
            ]

        # An editor uploads an image through the real admin.
        editor = Editor(site.base)
        url = site.base + CHANGE.format(character_id)
        saved = editor.session.post(
            url,
            data=flat(editor.open(character_id)),
            files={"upload": ("drill.png", drill_image(), "image/png")},
            headers={"Referer": url},
            timeout=120,
            allow_redirects=False,
        )
        assert saved.status_code == 302, saved.text[:2000]
        with MongoClient(site.replica_set.uri) as client:
            sha256 = client[database]["characters_character"].find_one({"id": character_id})[
                "image_upload"
            ]
        image_path = f"/images/{sha256}/original/"
        served = requests.get(site.base + image_path, timeout=30)
        assert served.status_code == 200
        assert hashlib.sha256(served.content).hexdigest() == sha256

        # The backup: the member's files while its writes are held.
        member_files = site.replica_set.folder / "member0"
        filesystem_backup(site.replica_set.uri, member_files, backup / "member0")
        assert (backup / "member0" / "WiredTiger").exists()

        # After the backup the live site resets the character: the upload is deleted there.
        reset = editor.session.post(
            site.base + CHANGELIST,
            data={
                "action": "reset_to_marvel",
                "_selected_action": [str(character_id)],
                "csrfmiddlewaretoken": editor.session.cookies["csrftoken"],
            },
            headers={"Referer": site.base + CHANGELIST},
            timeout=60,
            allow_redirects=False,
        )
        assert reset.status_code == 302
        with MongoClient(site.replica_set.uri) as client:
            files = client[database]["uploads.files"]
            assert files.count_documents({"filename": {"$regex": f"^characters/{sha256}/"}}) == 0

        # The restore: a new one-member set on the copy, on a port of its own, and the site
        # served from it by a second gunicorn.
        restored = ReplicaSet(members=1)
        restored.folder, restored.ports, restored.processes = backup, [free_port()], [None]
        stack.callback(restored.stop)
        restore_as_new_set(str(restored.mongod), backup / "member0", restored.ports[0])
        restored.start_member(0)
        member = {"_id": 0, "host": f"{HOST}:{restored.ports[0]}"}
        with direct(restored.ports[0]) as client:
            client.admin.command("replSetInitiate", {"_id": REPLICA_SET, "members": [member]})
        restored.wait_for_primary(60)
        env = {**site.env, "MONGODB_URI": restored.uri}
        base = stack.enter_context(gunicorn(restored_dir, env))

        again = requests.get(base + image_path, timeout=30)
        assert again.status_code == 200
        assert hashlib.sha256(again.content).hexdigest() == sha256
        assert again.content == served.content
        assert again.headers["Content-Type"] == "image/png"
        page = requests.get(f"{base}/characters/{character_id}/", timeout=30)
        assert page.status_code == 200
        assert f"/images/{sha256}/detail/" in page.text
