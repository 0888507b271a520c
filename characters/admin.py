"""Admin for characters and comics. Edits show on the public pages at once: each save changes
the catalogue version the page cache is keyed by (characters/page_cache.py)."""

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db import models
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from characters.models import Character, Comic, IndexedPaginator

Link = Character.comics.through


class HasImageFilter(admin.SimpleListFilter):
    title = "image"
    parameter_name = "has_image"

    def lookups(self, request, model_admin):
        return [("yes", "Has an image"), ("no", "No image")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.with_image()
        if self.value() == "no":
            return queryset.without_image()
        return queryset


class IdSearchMixin:
    """Search by the text field or, for a number, by Marvel id too.

    Not "=id" in search_fields: the admin turns that into id__iexact, a text comparison that
    SQLite coerces but MongoDB (a regex on an integer field) never matches.
    """

    search_text_field: str

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term.isascii() and term.isdigit() and len(term) <= 18:
            text = Q(**{f"{self.search_text_field}__icontains": term})
            return queryset.filter(Q(pk=int(term)) | text), False
        return super().get_search_results(request, queryset, search_term)


# Marvel's URLs are typed without a scheme at times: assume https (Django 6's default).
URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}


# What the import sets and editors should not: shown read-only, grouped together.
CHARACTER_IMPORT_FIELDS = (
    "modified",
    "comics_available",
    "resource_uri",
    "random_key",
    "created_at",
    "updated_at",
)


class IndexedChangeList(ChangeList):
    """Rows read with IndexedQuerySet.window(), on one page too.

    When every row fits on one page Django lists the whole queryset unsliced, a collection
    scan on MongoDB; its count (at most list_max_show_all) bounds the same rows as a window.
    """

    def get_results(self, request):
        super().get_results(request)
        if hasattr(self.result_list, "window"):
            self.result_list = self.result_list.window(0, self.result_count)


class CharacterChangeList(IndexedChangeList):
    """Counts the page's comic links in one query over the links' character_id index.

    Not an annotated Count("comics") on the queryset: that joins every character to its links
    before paginating, which MongoDB can only do by scanning both collections.
    """

    def get_results(self, request):
        super().get_results(request)
        counts = dict(
            Link.objects.filter(character_id__in=[c.pk for c in self.result_list])
            .values("character_id")
            .annotate(n=Count("id"))
            .values_list("character_id", "n")
            .order_by()
        )
        for character in self.result_list:
            character.linked_count = counts.get(character.pk, 0)


def linked_comic_ids(character_id: int) -> list[int]:
    return list(Link.objects.filter(character_id=character_id).values_list("comic_id", flat=True))


@admin.register(Character)
class CharacterAdmin(IdSearchMixin, admin.ModelAdmin):
    list_display = ("thumbnail", "name", "id", "comics_linked", "comics_available", "modified")
    list_display_links = ("thumbnail", "name")
    list_filter = (HasImageFilter, "modified")
    search_fields = ("name",)
    search_text_field = "name"
    search_help_text = "Search by name or Marvel id."
    ordering = ("name", "id")
    autocomplete_fields = ("comics",)
    list_per_page = 50
    paginator = IndexedPaginator
    formfield_overrides = URL_FIELDS
    readonly_fields = ("id", "preview", *CHARACTER_IMPORT_FIELDS)
    fieldsets = (
        (None, {"fields": ("id", "name", "description", "comics")}),
        ("Image", {"fields": ("preview", "thumbnail_path", "thumbnail_extension")}),
        ("Links", {"fields": ("urls",)}),
        (
            "Import metadata (from Marvel; read-only)",
            {"fields": CHARACTER_IMPORT_FIELDS},
        ),
    )

    def get_changelist(self, request, **kwargs):
        return CharacterChangeList

    @admin.display(description="")
    def thumbnail(self, obj):
        if not obj.has_image:
            return "–"
        return format_html(
            '<img src="{}" alt="" width="50" height="50" loading="lazy">',
            obj.image_url("standard_medium"),
        )

    @admin.display(description="image")
    def preview(self, obj):
        if not obj.has_image:
            return "No image"
        return format_html('<img src="{}" alt="{}" width="150">', obj.image_url(), obj.name)

    @admin.display(description="comics linked")
    def comics_linked(self, obj):
        return getattr(obj, "linked_count", None)

    def save_related(self, request, form, formsets, change):
        # The comics through the links' index (Character.set_comic_ids), not the form's
        # character.comics.set(), which MongoDB answers by scanning every comic.
        comics = form.cleaned_data.pop("comics", None)
        super().save_related(request, form, formsets, change)
        if comics is not None:
            form.instance.set_comic_ids(comic.pk for comic in comics)

    def get_object(self, request, object_id, from_field=None):
        character = super().get_object(request, object_id, from_field)
        if character is not None:
            # What prefetch_related("comics") does (django-mongodb-backend has none): the form
            # reads character.comics.all() from here, through the links' character_id index,
            # instead of a query that MongoDB answers by joining every comic to the links.
            character._prefetched_objects_cache = {
                "comics": Comic.objects.filter(id__in=linked_comic_ids(character.pk))
            }
        return character


@admin.register(Comic)
class ComicAdmin(IdSearchMixin, admin.ModelAdmin):
    list_display = ("title", "id", "updated_at")
    search_fields = ("title",)
    search_text_field = "title"
    search_help_text = "Search by title or Marvel id."
    ordering = ("title", "id")
    list_per_page = 50
    paginator = IndexedPaginator
    formfield_overrides = URL_FIELDS
    fields = ("id", "title", "resource_uri", "appearing_characters", "created_at", "updated_at")
    readonly_fields = ("id", "appearing_characters", "created_at", "updated_at")

    def get_changelist(self, request, **kwargs):
        return IndexedChangeList

    @admin.display(description="characters in this comic")
    def appearing_characters(self, obj):
        if obj.pk is None:
            return "–"
        characters = obj.cast()
        if not characters:
            return "None yet: add this comic to a character."
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}">{}</a></li>',
                (
                    (reverse("admin:characters_character_change", args=[c.pk]), c.name)
                    for c in characters
                ),
            ),
        )
