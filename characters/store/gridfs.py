"""A Django Storage on GridFS, in the site's own MongoDB database through the backend's own
client (no second client): uploads live in the replica set, replicated and backed up with the
data (mongodump covers GridFS).

No maintained Django GridFS storage exists; this one is the small part the site needs: save,
open, exists, delete, size, listdir and times, and each file's sha256 and content type in its
metadata.

Reads: a file and its first chunk in one round trip (an aggregate with a $lookup, both by
index), then kept in this process's memory (characters/store/bytes_cache.py): names are
content-addressed, so the bytes kept are never stale. A delete here drops the name from this
process's cache; another process may serve the deleted bytes until newer reads push them out
or it restarts (the same bytes browsers and shared caches keep a year: docs/operations.md).
"""

import datetime as dt
import hashlib
import re

import gridfs
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import connections
from django.utils.deconstruct import deconstructible

from characters.store.bytes_cache import BytesCache, CachedFile

BUCKET = "uploads"
# Most images fit in one chunk: one read of the chunks collection serves them.
CHUNK_BYTES = 4 * 1024 * 1024
# Kept in memory per process: at most this many bytes in all (the storage's cache_bytes option,
# MARVELSITE_UPLOADS_CACHE_MB), each file at most CACHE_FILE_BYTES (a few originals, many cards).
CACHE_BYTES = 32 * 1024 * 1024
CACHE_FILE_BYTES = 2 * 1024 * 1024


@deconstructible
class GridFSStorage(Storage):
    def __init__(
        self, using: str = "default", bucket: str = BUCKET, cache_bytes: int = CACHE_BYTES
    ):
        self.using = using
        self.bucket_name = bucket
        self.cache_bytes = cache_bytes
        self.cache = BytesCache(cache_bytes, CACHE_FILE_BYTES)

    @property
    def bucket(self) -> gridfs.GridFSBucket:
        connection = connections[self.using]
        connection.ensure_connection()
        return gridfs.GridFSBucket(
            connection.database, bucket_name=self.bucket_name, chunk_size_bytes=CHUNK_BYTES
        )

    def _collection(self, kind: str):
        return connections[self.using].database[f"{self.bucket_name}.{kind}"]

    def _newest(self, name: str) -> dict | None:
        return self._collection("files").find_one({"filename": name}, sort=[("uploadDate", -1)])

    def _read(self, name: str) -> CachedFile:
        """The newest file of this name: its document and first chunk in one aggregate (the
        files' filename_1_uploadDate_1 index, the chunks' files_id_1_n_1), the rest (files
        above CHUNK_BYTES) in a second read."""
        pipeline = [
            {"$match": {"filename": name}},
            {"$sort": {"uploadDate": -1}},
            {"$limit": 1},
            {
                "$lookup": {
                    "from": f"{self.bucket_name}.chunks",
                    "localField": "_id",
                    "foreignField": "files_id",
                    "pipeline": [{"$match": {"n": 0}}, {"$project": {"_id": 0, "data": 1}}],
                    "as": "first",
                }
            },
        ]
        found = next(self._collection("files").aggregate(pipeline), None)
        if found is None:
            raise FileNotFoundError(name)
        data = bytes(found["first"][0]["data"]) if found["first"] else b""
        if len(data) < found["length"]:
            rest = self._collection("chunks").find(
                {"files_id": found["_id"], "n": {"$gte": 1}}, sort=[("n", 1)]
            )
            data = b"".join([data, *(bytes(chunk["data"]) for chunk in rest)])
        if len(data) != found["length"]:
            raise gridfs.errors.CorruptGridFile(f"{name}: {len(data)} of {found['length']} bytes")
        return CachedFile(data, (found.get("metadata") or {}).get("content_type"))

    def _save(self, name, content):
        data = content.read()
        metadata = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "content_type": getattr(content, "content_type", None) or "application/octet-stream",
        }
        self.bucket.upload_from_stream(name, data, metadata=metadata)
        return name

    def _open(self, name, mode="rb"):
        found = self.cache.get(name)
        if found is None:
            token = self.cache.token()  # before the read: a delete meanwhile keeps it out
            found = self._read(name)
            self.cache.put(name, found, token)
        file = ContentFile(found.data, name=name)
        file.content_type = found.content_type
        return file

    def exists(self, name):
        return self._newest(name) is not None

    def delete(self, name):
        try:
            for file in self.bucket.find({"filename": name}):
                self.bucket.delete(file._id)
        finally:
            # After the delete: a read in flight meanwhile is not kept either.
            self.cache.forget(name)

    def listdir(self, path):
        """(folders, files) right under `path`: names are paths, as on disk."""
        prefix = f"{path.rstrip('/')}/" if path else ""
        names = self._collection("files").distinct(
            "filename", {"filename": {"$regex": f"^{re.escape(prefix)}"}}
        )
        folders, files = set(), set()
        for name in names:
            head, slash, _ = name[len(prefix) :].partition("/")
            (folders if slash else files).add(head)
        return sorted(folders), sorted(files)

    def get_modified_time(self, name):
        """When the newest file of this name was stored (files are never changed)."""
        file = self._newest(name)
        if file is None:
            raise FileNotFoundError(name)
        uploaded = file["uploadDate"]
        return uploaded if uploaded.tzinfo else uploaded.replace(tzinfo=dt.UTC)

    get_created_time = get_modified_time

    def mark_stored_now(self, name):
        """This name's files count as stored now (get_modified_time): one round trip."""
        now = dt.datetime.now(dt.UTC)
        self._collection("files").update_many({"filename": name}, {"$set": {"uploadDate": now}})

    def size(self, name):
        file = self._newest(name)
        if file is None:
            raise FileNotFoundError(name)
        return file["length"]

    def url(self, name):
        raise NotImplementedError("Uploads are served by characters.views.ImageView.")

    def get_available_name(self, name, max_length=None):
        return name  # content-addressed: a name is its content, never renamed
