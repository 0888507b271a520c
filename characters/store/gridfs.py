"""A Django Storage on GridFS, in the site's own MongoDB database through the backend's own
client (no second client): uploads live in the replica set, replicated and backed up with the
data (mongodump covers GridFS).

No maintained Django GridFS storage exists; this one is the small part the site needs: save,
open, exists, delete, size, and each file's sha256 and content type in its metadata.
"""

import hashlib

import gridfs
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import connections
from django.utils.deconstruct import deconstructible

BUCKET = "uploads"
# Most images fit in one chunk: one read of the chunks collection serves them.
CHUNK_BYTES = 4 * 1024 * 1024


@deconstructible
class GridFSStorage(Storage):
    def __init__(self, using: str = "default", bucket: str = BUCKET):
        self.using = using
        self.bucket_name = bucket

    @property
    def bucket(self) -> gridfs.GridFSBucket:
        connection = connections[self.using]
        connection.ensure_connection()
        return gridfs.GridFSBucket(
            connection.database, bucket_name=self.bucket_name, chunk_size_bytes=CHUNK_BYTES
        )

    def _newest(self, name: str) -> dict | None:
        files = connections[self.using].database[f"{self.bucket_name}.files"]
        return files.find_one({"filename": name}, sort=[("uploadDate", -1)])

    def _save(self, name, content):
        data = content.read()
        metadata = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "content_type": getattr(content, "content_type", None) or "application/octet-stream",
        }
        self.bucket.upload_from_stream(name, data, metadata=metadata)
        return name

    def _open(self, name, mode="rb"):
        try:
            stream = self.bucket.open_download_stream_by_name(name)
        except gridfs.errors.NoFile:
            raise FileNotFoundError(name) from None
        with stream:
            file = ContentFile(stream.read(), name=name)
        file.content_type = (stream.metadata or {}).get("content_type")
        return file

    def exists(self, name):
        return self._newest(name) is not None

    def delete(self, name):
        for file in self.bucket.find({"filename": name}):
            self.bucket.delete(file._id)

    def size(self, name):
        file = self._newest(name)
        if file is None:
            raise FileNotFoundError(name)
        return file["length"]

    def url(self, name):
        raise NotImplementedError("Uploads are served by characters.views.ImageView.")

    def get_available_name(self, name, max_length=None):
        return name  # content-addressed: a name is its content, never renamed
