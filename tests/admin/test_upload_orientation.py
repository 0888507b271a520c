"""A phone photo carries its EXIF Orientation tag instead of turned pixels: an upload is stored
upright (characters/images.py), in every size, with the tag (and every other) dropped."""

import io
import struct

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageOps

from characters import images

pytestmark = pytest.mark.django_db

ORIENTATION = 0x0112
RED, BLUE = (220, 20, 20), (20, 20, 220)


@pytest.fixture(autouse=True)
def uploads_folder(settings, tmp_path):
    if not settings.ON_MONGODB:
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {**settings.STORAGES["default"], "OPTIONS": {"location": tmp_path}},
        }


def photo(orientation: int | None, image_format="JPEG") -> bytes:
    """1000x500 as the sensor saw it: the top half red, the bottom half blue."""
    image = Image.new("RGB", (1000, 500), BLUE)
    image.paste(RED, (0, 0, 1000, 250))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker-secret"  # Make: must not survive either
    if orientation is not None:
        exif[ORIENTATION] = orientation
    out = io.BytesIO()
    image.save(out, image_format, exif=exif.tobytes(), quality=95)
    return out.getvalue()


def stored(data: bytes, name="photo.jpg") -> dict[str, Image.Image]:
    sha = images.store(images.prepare(SimpleUploadedFile(name, data)))
    found = {}
    for variant in images.VARIANTS:
        with default_storage.open(images.stored_name(sha, variant)) as file:
            raw = file.read()
        assert b"PhoneMaker-secret" not in raw
        found[variant] = Image.open(io.BytesIO(raw))
        found[variant].load()
    return found


def colour(image: Image.Image, x: float, y: float) -> str:
    """Which of the two colours is near the point (x, y), given as fractions of the size."""
    r, _, b = image.convert("RGB").getpixel((int(x * (image.width - 1)), int(y * image.height)))
    return "red" if r > b else "blue"


@pytest.mark.parametrize("image_format", ["JPEG", "WEBP"])
def test_a_photo_turned_by_its_tag_is_stored_upright_in_every_size(image_format):
    # Orientation 6: show it turned a quarter clockwise. The sensor's top (red) is then the
    # right side, its bottom (blue) the left.
    sizes = stored(photo(6, image_format))
    assert {variant: image.size for variant, image in sizes.items()} == {
        "original": (500, 1000),
        "card": (232, 464),
        "detail": (450, 900),
    }
    for image in sizes.values():
        assert (colour(image, 0.1, 0.5), colour(image, 0.9, 0.5)) == ("blue", "red")
        assert ORIENTATION not in image.getexif()


def test_upside_down_and_mirrored_tags_are_applied_too():
    upside_down = stored(photo(3))["original"]  # turned half a turn: blue on top
    assert upside_down.size == (1000, 500)
    assert (colour(upside_down, 0.5, 0.1), colour(upside_down, 0.5, 0.9)) == ("blue", "red")
    mirrored = stored(photo(4))["original"]  # flipped top to bottom: blue on top as well
    assert (colour(mirrored, 0.5, 0.1), colour(mirrored, 0.5, 0.9)) == ("blue", "red")


def test_without_a_tag_the_pixels_are_kept_as_they_are():
    for orientation in (None, 1):
        original = stored(photo(orientation))["original"]
        assert original.size == (1000, 500)
        assert (colour(original, 0.5, 0.1), colour(original, 0.5, 0.9)) == ("red", "blue")


def test_an_unreadable_exif_block_keeps_the_pixels_and_the_upload():
    data = photo(6)
    # A zero in the first tag's number: Pillow's reading of the tags fails (struct.error).
    at = data.index(b"Exif\x00\x00") + 6 + 11
    broken = data[:at] + b"\x00" + data[at + 1 :]
    decoded = Image.open(io.BytesIO(broken))
    with pytest.raises(struct.error):
        ImageOps.exif_transpose(decoded)
    original = stored(broken)["original"]
    assert original.size == (1000, 500)
