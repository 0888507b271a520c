"""Marvel characters and the comics they appear in.

Primary keys are Marvel's own integer ids, so the same models and migrations serve SQLite and
MongoDB, and re-importing the same data finds the same rows.
"""

import random

from django.db import models
from django.db.models import Max, Q
from django.urls import reverse
from django.utils.text import slugify

# Ids from here up are made by this site (the admin); Marvel's ids are far below.
LOCAL_ID_START = 1_000_000_000
IMAGE_NOT_AVAILABLE = "image_not_available"
SAMPLE_WINDOW_FACTOR = 4
CHARACTER_ORDERINGS = {
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "modified": ("modified", "id"),
    "-modified": ("-modified", "-id"),
    "comics": ("comics_available", "name", "id"),
    "-comics": ("-comics_available", "name", "id"),
}


def new_random_key() -> float:
    return random.random()  # noqa: S311 - sampling, not security


class LocalIdModel(models.Model):
    """A model keyed by Marvel's id that numbers rows added here after LOCAL_ID_START."""

    id = models.PositiveBigIntegerField(primary_key=True, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.id is None:
            self.id = type(self).next_local_id()
        super().save(*args, **kwargs)

    @classmethod
    def next_local_id(cls) -> int:
        highest = cls._default_manager.filter(id__gte=LOCAL_ID_START).aggregate(top=Max("id"))
        return (highest["top"] or LOCAL_ID_START - 1) + 1


class Comic(LocalIdModel):
    title = models.CharField(max_length=500)
    resource_uri = models.URLField("resource URI", max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("characters:comic", args=[self.id])


class CharacterQuerySet(models.QuerySet):
    def search(self, text: str):
        """Names containing text, case-insensitively; text is literal (no patterns)."""
        text = text.strip()
        return self.filter(name__icontains=text) if text else self

    def with_image(self):
        return self.exclude(thumbnail_path="").exclude(thumbnail_path__contains=IMAGE_NOT_AVAILABLE)

    def without_image(self):
        return self.filter(Q(thumbnail_path="") | Q(thumbnail_path__contains=IMAGE_NOT_AVAILABLE))

    def ordered(self, sort: str):
        if sort not in CHARACTER_ORDERINGS:
            raise ValueError(f"unknown sort {sort!r}; expected one of {list(CHARACTER_ORDERINGS)}")
        return self.order_by(*CHARACTER_ORDERINGS[sort])

    def sample(self, count: int, exclude_ids=()):
        """`count` random characters (fewer if there are not enough) in one or two queries.

        Reads a window of random_key's index from a random point (wrapping around at the end)
        instead of ORDER BY random(), which MongoDB lacks and which scans the whole table.
        The window is a few times larger than `count` so neighbours in key order vary.
        """
        rows = self.exclude(id__in=list(exclude_ids)).order_by("random_key")
        window = count * SAMPLE_WINDOW_FACTOR
        point = new_random_key()
        found = list(rows.filter(random_key__gte=point)[:window])
        if len(found) < window:
            found += list(rows.filter(random_key__lt=point)[: window - len(found)])
        return random.sample(found, min(count, len(found)))


class Character(LocalIdModel):
    name = models.CharField(max_length=200, db_index=True)
    description = models.TextField(blank=True)
    # Marvel's image parts: URL = f"{path}/{variant}.{extension}" (variants: portrait_xlarge, ...)
    thumbnail_path = models.URLField(max_length=300, blank=True)
    thumbnail_extension = models.CharField(max_length=10, blank=True)
    modified = models.DateTimeField(
        "modified at Marvel", null=True, blank=True, help_text="Marvel's own last-modified time."
    )
    resource_uri = models.URLField("resource URI", max_length=300, blank=True)
    comics_available = models.PositiveIntegerField(
        default=0, help_text="Comics Marvel counts for this character; its API lists at most 20."
    )
    urls = models.JSONField(
        "links", default=list, blank=True, help_text='Marvel\'s links: [{"type": ..., "url": ...}]'
    )
    # A uniform random number per row, indexed, for cheap random sampling.
    random_key = models.FloatField(default=new_random_key, db_index=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    comics = models.ManyToManyField(Comic, related_name="characters", blank=True)

    objects = CharacterQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("characters:detail", args=[self.id, self.slug])

    @property
    def slug(self) -> str:
        return slugify(self.name) or "character"

    @property
    def has_image(self) -> bool:
        return bool(self.thumbnail_path) and IMAGE_NOT_AVAILABLE not in self.thumbnail_path

    def image_url(self, variant: str = "portrait_xlarge") -> str:
        """Marvel's CDN URL for this image size, or "" when there is no image."""
        if not self.has_image:
            return ""
        path = self.thumbnail_path.replace("http://", "https://", 1)
        return f"{path}/{variant}.{self.thumbnail_extension}"
