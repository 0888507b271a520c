"""Editors' uploaded images: validated and re-encoded with Pillow, stored content-addressed in
the default storage (GridFS on MongoDB: characters/store/gridfs.py; files on SQLite).

An upload is decoded and encoded again, so what is stored is pixels only: no metadata, and no
second format hiding in the bytes (a polyglot); a photo is turned upright first (its EXIF
Orientation), as the metadata that said how to show it is dropped. Each upload is stored three
times under its sha256: the original size and the two sizes pages show ("card" and "detail").
"""

import datetime as dt
import hashlib
import io
import os
import re
import struct
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 5 * 1024 * 1024
MAX_SIDE = 4096
# Pillow's format name -> (content type, save options).
FORMATS = {
    "JPEG": ("image/jpeg", {"quality": 88, "optimize": True}),
    "PNG": ("image/png", {"optimize": True}),
    "WEBP": ("image/webp", {"quality": 88}),
}
# Derived sizes: the largest box each fits in (the Marvel variants pages used).
SIZES = {"card": (464, 464), "detail": (600, 900)}
VARIANTS = ("original", *SIZES)
# Magic numbers of the formats we store: the content type of a stored file from its bytes,
# where the storage keeps no metadata (files on disk).
MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True)
class Encoded:
    data: bytes
    content_type: str


FOLDER = "characters"


def stored_name(sha256: str, variant: str) -> str:
    return f"{FOLDER}/{sha256}/{variant}"


def validate(upload) -> Image.Image:
    """The decoded image of an uploaded file, or a ValidationError saying what is wrong."""
    if upload.size > MAX_BYTES:
        raise ValidationError(
            f"This file is {upload.size / 1024 / 1024:.1f} MB; images may be at most 5 MB."
        )
    upload.seek(0)
    data = upload.read()
    try:
        image = Image.open(io.BytesIO(data), formats=list(FORMATS))
        if max(image.size) > MAX_SIDE:
            raise ValidationError(
                f"This image is {image.width}x{image.height} px; at most {MAX_SIDE} px a side."
            )
        image.load()  # decodes every pixel: a truncated or forged file fails here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationError(
            "This file is not a JPEG, PNG or WebP image (whatever its name says); "
            "upload one of those."
        ) from None
    return image


def encode(image: Image.Image, image_format: str, box: tuple[int, int] | None = None) -> Encoded:
    """`image` encoded again in `image_format` (pixels only), shrunk to fit `box` if given."""
    content_type, options = FORMATS[image_format]
    image = image.copy()
    if box is not None:
        image.thumbnail(box)
    if image_format == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    elif image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        image = image.convert("RGBA")
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return Encoded(out.getvalue(), content_type)


@dataclass(frozen=True)
class Prepared:
    """A validated upload, re-encoded in every size, not stored yet."""

    sha256: str
    sizes: dict[str, Encoded]


def upright(image: Image.Image) -> Image.Image:
    """`image` turned as its EXIF Orientation tag says (a phone stores what its sensor saw and
    the tag), since re-encoding drops the tag; as it is when the EXIF cannot be read."""
    try:
        return ImageOps.exif_transpose(image)
    except (ValueError, TypeError, KeyError, OSError, SyntaxError, struct.error):
        return image


def prepare(upload) -> Prepared:
    """Validate and re-encode an uploaded image in every size (a ValidationError if bad)."""
    image = validate(upload)
    image_format = image.format  # not kept by a turned copy
    image = upright(image)
    original = encode(image, image_format)
    sizes = {"original": original} | {
        variant: encode(image, image_format, box) for variant, box in SIZES.items()
    }
    return Prepared(hashlib.sha256(original.data).hexdigest(), sizes)


def store(prepared: Prepared, storage=None) -> str:
    """Store a prepared upload's files under its sha256 (the same bytes once); the sha256."""
    storage = storage or default_storage
    for variant, file in prepared.sizes.items():
        name = stored_name(prepared.sha256, variant)
        if not storage.exists(name):
            content = ContentFile(file.data)
            content.content_type = file.content_type
            storage.save(name, content)
        else:
            mark_stored_now(name, storage)
    return prepared.sha256


def mark_stored_now(name: str, storage) -> None:
    """The same bytes stored again: they count as new, so a sweep leaves them for its grace
    period while the save that takes them commits."""
    if hasattr(storage, "mark_stored_now"):
        storage.mark_stored_now(name)
    else:
        os.utime(storage.path(name))


def delete_upload(sha256: str, storage=None) -> None:
    """Delete an upload's files (every size)."""
    storage = storage or default_storage
    for variant in VARIANTS:
        storage.delete(stored_name(sha256, variant))


def delete_when_unused(sha256: str | None, using: str) -> None:
    """After the transaction that dropped `sha256` from a character commits, delete its files
    unless another character shows the same image (content-addressed: shared)."""
    if not sha256:
        return

    def delete():
        from characters.models import Character

        if not Character.objects.using(using).filter(image_upload=sha256).exists():
            delete_upload(sha256)

    transaction.on_commit(delete, using=using)


# An upload's files younger than this are never swept: a save may not have committed yet.
SWEEP_GRACE = dt.timedelta(hours=1)
SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Sweep:
    swept: dict[str, list[str]]  # sha256 -> its files deleted (dry run: that would be)
    young: list[str]  # unreferenced, within the grace period: left
    in_use: int


def sweep_orphans(
    grace: dt.timedelta = SWEEP_GRACE, *, dry_run=False, storage=None, using="default", now=None
) -> Sweep:
    """Delete the stored uploads no character shows, once their newest file is older than
    `grace`: what a crash between a save's commit and its deferred delete leaves behind."""
    from characters.models import Character

    storage = storage or default_storage
    now = now or timezone.now()
    try:
        stored = [name for name in storage.listdir(FOLDER)[0] if SHA256.fullmatch(name)]
    except FileNotFoundError:  # nothing uploaded yet (no folder on disk)
        stored = []
    characters = Character.objects.using(using)
    in_use = set(
        characters.filter(image_upload__isnull=False).values_list("image_upload", flat=True)
    )
    swept, young = {}, []
    for sha256 in sorted(set(stored) - in_use):
        names = [f"{FOLDER}/{sha256}/{name}" for name in storage.listdir(f"{FOLDER}/{sha256}")[1]]
        # Read again just before: a save may have taken these very bytes since the first read
        # (its store() marked them stored now, before its commit, so their age says so).
        if not names or characters.filter(image_upload=sha256).exists():
            continue
        if now - max(storage.get_modified_time(name) for name in names) < grace:
            young.append(sha256)
            continue
        if not dry_run:
            for name in names:
                storage.delete(name)
        swept[sha256] = names
    return Sweep(swept, young, len(set(stored) & in_use))


def content_type_of(file, head: bytes) -> str:
    """A stored image's content type: from the storage's metadata (GridFS, read with the file),
    else from its first bytes (files on disk: always bytes we encoded), never from its name."""
    if content_type := getattr(file, "content_type", None):
        return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for magic, content_type in MAGIC:
        if head.startswith(magic):
            return content_type
    return "application/octet-stream"


def etags(header: str) -> list[str]:
    """The entity tags of an If-None-Match header ("*" matches any)."""
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]


def range_applies(range_header: str | None, if_range: str | None, etag: str) -> bool:
    """Whether to answer a part: one well-formed byte range (others get the whole image, as
    HTTP allows), asked of this very content."""
    if range_header is None or not SINGLE_RANGE.fullmatch(range_header.strip()):
        return False
    return if_range is None or if_range.strip() == etag


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single-range Range header, or None when no byte of it is in
    the file (a 416)."""
    first, last = SINGLE_RANGE.fullmatch(header.strip()).groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        if int(last) == 0 or size == 0:
            return None
        return max(size - int(last), 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return None
    return start, end
