"""Admin for characters and comics. Edits show on the public pages at once: each save changes
the catalogue version the page cache is keyed by (characters/page_cache.py). A field edited here
is kept by later imports, a Marvel character deleted here stays deleted (characters/ownership.py).
"""

import random
import time
from collections import defaultdict

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.checks import ModelAdminChecks
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.views.main import ERROR_FLAG, ORDER_VAR, PAGE_VAR, ChangeList
from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.contrib.messages.storage import default_storage
from django.core.exceptions import ValidationError
from django.db import DatabaseError, models, router
from django.db.models import Count, Exists, OuterRef, Q
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.text import Truncator

from characters import images, ownership, search
from characters.ingest.history import heartbeat_age
from characters.link_rows import LinkRowsField, LinkRowsWidget
from characters.models import (
    LOCAL_ID_START,
    CatalogueVersion,
    Character,
    CharacterComic,
    Comic,
    DeletedCharacter,
    ImportRun,
    RowChanged,
)
from characters.page_cache import kept_count
from characters.paging import IndexedPaginator
from characters.views import PLACEHOLDER_IMAGE
from marvelsite.db_errors import DATABASE_ERRORS, may_run_again
from marvelsite.transactions import atomic


class HasImageFilter(admin.SimpleListFilter):
    title = "image"
    parameter_name = "has_image"

    def lookups(self, request, model_admin):
        return [("yes", "Has an image"), ("no", "No image"), ("uploaded", "Uploaded here")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.with_image()
        if self.value() == "no":
            return queryset.without_image()
        if self.value() == "uploaded":  # one range of the image_upload index, past the nulls
            return queryset.filter(image_upload__isnull=False)
        return queryset


class EditedHereFilter(admin.SimpleListFilter):
    """Rows edited here: any field group, one group, or added here (ownership.py)."""

    title = "edited here"
    parameter_name = "edited"
    ANY, ADDED = "any", "added"

    def lookups(self, request, model_admin):
        groups = [(group, f"“{group}”") for group in model_admin.model.EDITABLE]
        return [(self.ANY, "Any field"), *groups, (self.ADDED, "Added here")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == self.ANY:
            return queryset.filter(local_edits__isnull=False)
        if value == self.ADDED:
            return queryset.filter(id__gte=LOCAL_ID_START)
        if value in queryset.model.EDITABLE:
            # has_key alone is an $expr on MongoDB, which no index serves: the rows edited
            # here come from the local_edits index, then are checked for the group.
            edited = queryset.filter(local_edits__isnull=False)
            return edited.filter(local_edits__has_key=value)
        return queryset


class NoComicsFilter(admin.SimpleListFilter):
    """Characters linked to no comic: a semi-join over the links' character_id index."""

    title = "comics"
    parameter_name = "comics"

    def lookups(self, request, model_admin):
        return [("none", "No comics")]

    def queryset(self, request, queryset):
        if self.value() == "none":
            linked = CharacterComic.objects.filter(character_id=OuterRef("pk"))
            return queryset.filter(~Exists(linked))
        return queryset


class IdSearchMixin:
    """Search by the text field or, for a number, by Marvel id too.

    Not "=id" in search_fields: the admin turns that into id__iexact, a text comparison that
    SQLite coerces but MongoDB (a regex on an integer field) never matches.
    """

    search_text_field: str

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if "\x00" in term:
            # No name holds a NUL, and MongoDB refuses one in a pattern: the client's error,
            # answered with no results rather than a database error (an outage to the breaker).
            return queryset.none(), False
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
    The name column sorts by the stored sort key (reading order, index-served).
    """

    def get_ordering_field(self, field_name):
        if field_name == "name":
            return "sort_name"
        return super().get_ordering_field(field_name)

    def get_results(self, request):
        super().get_results(request)
        counts = dict(
            CharacterComic.objects.filter(character_id__in=[c.pk for c in self.result_list])
            .values("character_id")
            .annotate(n=Count("id"))
            .values_list("character_id", "n")
            .order_by()
        )
        for character in self.result_list:
            character.linked_count = counts.get(character.pk, 0)


def _marvel_value(value) -> str:
    """A short reading of Marvel's value of a group, for the change form."""
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return f"{len(value)} comic{'' if len(value) == 1 else 's'}"
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return f"{len(value)} link{'' if len(value) == 1 else 's'}"
    if isinstance(value, list):  # the image: path and extension
        return ".".join(str(part) for part in value if part) or "none"
    return f"“{Truncator(value).chars(80)}”" if value else "empty"


# A save that met another writer's commit (a MongoDB WriteConflict, a row at a new version, a
# local id taken) or an election is run again from its reads, after a random pause that
# doubles up to a limit (concurrent adds race for the same next id). Tries are started while
# one can start within SAVE_BUDGET of the first: bounded by time, as the driver's
# with_transaction is, not by a count, since how many tries a save loses depends on how many
# writers race it and how busy the machine is. Not run again: a save that waited for a primary
# in vain (the driver already waited serverSelectionTimeoutMS: a 503 now, as for pages), and a
# commit whose outcome is unknown (it may have been applied: a second run could apply it twice).
SAVE_BUDGET = 10.0  # seconds
SAVE_PAUSE = 0.01  # seconds, at most, before the second try
SAVE_PAUSE_LIMIT = 0.5  # seconds


class VersionedForm(forms.ModelForm):
    """A change form that knows what it showed: the row's version and, for each editable field,
    the value it was opened with (a hidden "initial-" input, Django's show_hidden_initial).

    So `changed_data` is what *this editor* changed, and a save after someone else's (another
    editor's, an import's) merges field by field: only the fields the editor changed are
    written, the others keep their current values. A field both changed is a conflict: the
    form comes back naming it, with the editor's input kept (see docs/ownership.md).
    """

    opened_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.show_hidden_initial = True
        self.fields["opened_version"].show_hidden_initial = False
        if self.instance.pk is not None:
            self.initial.setdefault("opened_version", self.instance.version)

    def _opened(self, name: str):
        """The raw value the form was opened with, or None when the client did not send it."""
        bound = self[name]
        if bound.html_initial_name not in self.data:
            return None
        widget = self.fields[name].hidden_widget()
        return widget.value_from_datadict(self.data, self.files, bound.html_initial_name)

    def _differs(self, name: str, value, raw) -> bool:
        """Whether the raw form value `raw` differs from the field value `value`."""
        field = self.fields[name]
        try:
            return field.has_changed(value, raw)
        except ValidationError:
            return True

    def _opened_as_value(self, name: str, raw):
        field = self.fields[name]
        if isinstance(field, forms.ModelMultipleChoiceField):
            return raw  # has_changed compares primary keys as text: no query
        return field.to_python(raw)

    @property
    def changed_data(self) -> list[str]:
        """The fields this editor changed since the form was opened (the current values stand
        in for a client that sent no opened values)."""
        changed = []
        for name in self.fields:
            if name == "opened_version":
                continue
            raw = self._opened(name)
            try:
                opened = self.initial.get(name) if raw is None else self._opened_as_value(name, raw)
            except ValidationError:
                changed.append(name)
                continue
            if self._differs(name, opened, self[name].data):
                changed.append(name)
        return changed

    def conflicts(self) -> list[str]:
        """Fields this editor changed that someone else changed too since it was opened."""
        row = type(self.instance)
        mine = ownership.fields_of_groups(row, self.changed_data)
        return [
            name
            for name in mine
            if name in self.fields
            and (raw := self._opened(name)) is not None
            and self._differs(name, self.initial.get(name), raw)  # changed since opened
            and self._differs(name, self.initial.get(name), self[name].data)  # not the same
        ]

    def clean(self):
        cleaned = super().clean()
        opened = cleaned.get("opened_version")
        if self.instance.pk is None or opened is None or opened == self.instance.version:
            return cleaned
        if conflicts := self.conflicts():
            self._open_again()
            now = ", ".join(
                f"{(self.fields[name].label or name).lower()} "
                f"(now {_shown(self.initial.get(name))})"
                for name in conflicts
            )
            kind = self.instance._meta.verbose_name
            raise ValidationError(
                f"This {kind} was changed by someone else (an editor or an import) after you "
                f"opened it, in what you changed too: {now}. Your input is kept below: save "
                "again to keep yours over theirs, or edit it first."
            )
        return cleaned

    def _open_again(self) -> None:
        """Make the form as if opened now: the next save is a decision made seeing the
        current values."""
        data = self.data.copy()
        for name, field in self.fields.items():
            if name == "opened_version":
                continue
            value = field.prepare_value(self.initial.get(name))
            key = self[name].html_initial_name
            if isinstance(field, forms.ModelMultipleChoiceField):
                data.setlist(key, [str(v) for v in value or ()])
            else:
                data[key] = "" if value is None else str(value)
        data["opened_version"] = str(self.instance.version)
        self.data = data


def _shown(value) -> str:
    if isinstance(value, list | tuple) and all(hasattr(v, "pk") for v in value):
        return f"{len(value)} comic{'' if len(value) == 1 else 's'}"
    return f"“{Truncator(str(value)).chars(80)}”" if value not in (None, "", []) else "empty"


class OneTransactionMixin:
    """Every POST (a save, an add, a delete, an action) as one transaction."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        view = super().changeform_view
        return self._in_one_transaction(request, view, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        return self._in_one_transaction(request, super().delete_view, object_id, extra_context)

    def changelist_view(self, request, extra_context=None):  # actions
        return self._in_one_transaction(request, super().changelist_view, extra_context)

    def _in_one_transaction(self, request, view, *args):
        """A POST as one transaction on both backends (a MongoDB one on a replica set): the
        row, its links, local_edits, the LogEntry and the catalogue version, or nothing. A
        commit that met another writer's runs again from its reads (the form then shows a
        conflict, or merges)."""
        if request.method != "POST":
            return view(request, *args)
        using = router.db_for_write(self.model)
        deadline = time.monotonic() + SAVE_BUDGET
        longest_pause = SAVE_PAUSE
        while True:
            try:
                with atomic(using), CatalogueVersion.bumped_once(using):
                    return view(request, *args)
            except (RowChanged, *DATABASE_ERRORS) as error:
                # The failed try's messages ("… was changed successfully") are void.
                request._messages = default_storage(request)
                if not (isinstance(error, RowChanged) or may_run_again(error)):
                    raise
                pause = random.uniform(0, longest_pause)
                longest_pause = min(2 * longest_pause, SAVE_PAUSE_LIMIT)
                if time.monotonic() + pause < deadline:
                    time.sleep(pause)
                    continue
                if isinstance(error, RowChanged):  # the editor is told to try again (a 503)
                    raise DatabaseError(f"still changing after {SAVE_BUDGET:g} s") from error
                raise


class OwnershipAdminMixin(OneTransactionMixin):
    """Who owns a row's fields (characters/ownership.py): noted when an editor saves a change,
    shown in the list and on the form, and given back to Marvel by an action."""

    actions = ["reset_to_marvel"]
    form = VersionedForm

    @admin.display(description="edited here")
    def edited_here(self, obj):
        if obj.is_local:
            return "added here"
        return ", ".join(sorted(obj.local_edits or {})) or "–"

    @admin.display(description="owner")
    def ownership(self, obj):
        if obj.pk is None or obj.is_local:
            return "Added here: imports never change it."
        edits = obj.local_edits or {}
        if not edits:
            return (
                "Marvel: imports update every field. A field you change here keeps your value "
                "on later imports."
            )
        return format_html(
            "Marvel, with fields edited here: imports keep these and follow Marvel for the "
            "rest. “Reset to Marvel's data” (an action in the list) gives them back."
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{}: Marvel has {}</li>",
                ((group, _marvel_value(value)) for group, value in sorted(edits.items())),
            ),
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        for group in (obj.local_edits or {}) if obj is not None else ():
            for field in type(obj).EDITABLE.get(group, ()):
                if field in form.base_fields:  # the class is made for this request
                    base = form.base_fields[field]
                    base.help_text = " ".join(
                        filter(None, [base.help_text, "Edited here: imports keep this value."])
                    )
        return form

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        (name, options), *rest = fieldsets
        return [(name, {**options, "fields": [*options["fields"], "opened_version"]}), *rest]

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        # Only what this editor changed is written; the other fields keep their current
        # values (someone may have saved since the form was opened).
        read = {name: getattr(obj, name) for name in self.changed_besides_form}
        besides = self.save_besides_form(obj, form)
        fields = ownership.fields_of_groups(type(obj), [*form.changed_data, *besides])
        for name, field in form.fields.items():
            untouched = name not in fields and name in form.initial and name != "opened_version"
            if untouched and not isinstance(field, forms.ModelMultipleChoiceField):
                setattr(obj, name, form.initial[name])

        def value(name, values):
            return values.get(name) if name in form.fields else getattr(obj, name)

        ownership.note_edits(
            obj,
            {name: read[name] if name in read else form.initial.get(name) for name in fields},
            {name: value(name, form.cleaned_data) for name in fields},
        )
        obj.updated_at = timezone.now()
        columns = [name for name in fields if not type(obj)._meta.get_field(name).many_to_many]
        obj.save_if_version([*columns, "local_edits", "updated_at"])
        CatalogueVersion.bump(using=obj._state.db)  # update() sends no post_save
        return None

    # Editable fields set by save_besides_form, not by a form field of the same name.
    changed_besides_form: tuple[str, ...] = ()

    def save_besides_form(self, obj, form) -> list[str]:
        """Set on `obj` what a change writes besides the form's model fields; the names."""
        return []

    @admin.action(description="Reset to Marvel's data")
    def reset_to_marvel(self, request, queryset):
        rows = list(queryset)
        reset = ownership.reset_many_to_marvel(rows)
        # One log insert per kind of reset (the groups reset), not one per row.
        by_message = defaultdict(list)
        for row, groups in reset:
            by_message[f"Reset to Marvel's data: {', '.join(groups)}."].append(row)
        for message, changed in by_message.items():
            LogEntry.objects.log_actions(
                request.user.pk, changed, CHANGE, change_message=message, single_object=False
            )
        self.message_user(
            request,
            f"{len(reset)} of {len(rows)} reset to Marvel's data; imports update them again"
            if reset
            else "Nothing to reset: none of them was edited here.",
            messages.SUCCESS if reset else messages.WARNING,
        )


# Query parameters that change no count: the page (the changelist's, the autocomplete's), the
# ordering and the error flag.
UNCOUNTED = {PAGE_VAR, "page", ORDER_VAR, ERROR_FLAG}


class KeptCountMixin:
    """Changelists of the catalogue: bounded pages, and their count kept per catalogue version
    as the public list's (characters/page_cache.py): an edit here changes the version, so the
    next count is a fresh one. With Django's knob for big tables, no second count of every row
    beside a search's or a filter's ("5 results (Show all)", not "(105,000 total)")."""

    paginator = IndexedPaginator
    show_full_result_count = False

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        count = kept_count(queryset, key=count_key(request))
        return self.paginator(queryset, per_page, orphans, allow_empty_first_page, count=count)


def count_key(request) -> str:
    """What selects a changelist's (or an autocomplete's) rows: its path and its query string
    as ChangeList.get_query_string() writes it (sorted), less what changes no count."""
    params = [
        (name, values) for name, values in sorted(request.GET.lists()) if name not in UNCOUNTED
    ]
    return f"{request.path}?{urlencode(params, doseq=True)}"


class CharacterForm(VersionedForm):
    upload = forms.FileField(
        label="Upload an image",
        required=False,
        help_text="JPEG, PNG or WebP, at most 5 MB and 4,096 px a side. Shown instead of "
        "Marvel's image; imports keep it, “Reset to Marvel's data” removes it.",
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["upload"].show_hidden_initial = False

    def clean_upload(self) -> images.Prepared | None:
        upload = self.cleaned_data.get("upload")
        return images.prepare(upload) if upload else None


def holds_only_the_links(field) -> bool:
    """A many-to-many field whose link model holds nothing but its id and the two keys: the
    admin edits it as an implicit one, though Django leaves out (and its checks refuse,
    admin.E013) one with an explicit link model, which could need more to be filled in."""
    return len(field.remote_field.through._meta.concrete_fields) == 3


class CharacterAdminChecks(ModelAdminChecks):
    """Django's checks, letting the form hold the comics (holds_only_the_links)."""

    def _check_field_spec_item(self, obj, field_name, label):
        field = obj.model._meta.get_field(field_name) if field_name == "comics" else None
        if field is not None and holds_only_the_links(field):
            return []
        return super()._check_field_spec_item(obj, field_name, label)


@admin.register(Character)
class CharacterAdmin(KeptCountMixin, OwnershipAdminMixin, admin.ModelAdmin):
    list_display = (
        "thumbnail",
        "name",
        "id",
        "comics_linked",
        "comics_available",
        "modified",
        "edited_here",
    )
    list_display_links = ("thumbnail", "name")
    list_filter = (HasImageFilter, EditedHereFilter, NoComicsFilter, "modified")
    search_fields = ("name",)
    search_help_text = "Search by name (as the public list does) or Marvel id."
    ordering = ("sort_name", "id")
    autocomplete_fields = ("comics",)
    form = CharacterForm
    list_per_page = 50
    formfield_overrides = URL_FIELDS
    readonly_fields = ("id", "ownership", "preview", *CHARACTER_IMPORT_FIELDS)
    fieldsets = (
        (None, {"fields": ("id", "ownership", "name", "description", "comics")}),
        ("Image", {"fields": ("preview", "upload", "thumbnail_path", "thumbnail_extension")}),
        ("Links", {"fields": ("urls",)}),
        (
            "Import metadata (from Marvel; read-only)",
            {"fields": CHARACTER_IMPORT_FIELDS},
        ),
    )

    checks_class = CharacterAdminChecks

    def get_changelist(self, request, **kwargs):
        return CharacterChangeList

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if not holds_only_the_links(db_field):
            return super().formfield_for_manytomany(db_field, request, **kwargs)
        # What Django does for an implicit link model (the widgets this admin uses).
        using = kwargs.get("using")
        if db_field.name in self.get_autocomplete_fields(request):
            kwargs.setdefault(
                "widget", AutocompleteSelectMultiple(db_field, self.admin_site, using=using)
            )
        if (queryset := self.get_field_queryset(using, db_field, request)) is not None:
            kwargs.setdefault("queryset", queryset)
        return db_field.formfield(**kwargs)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "urls":
            kwargs |= {"form_class": LinkRowsField, "widget": LinkRowsWidget}
            kwargs["help_text"] = (
                "One link a row: its type (Marvel's are detail, wiki and comiclink) and an "
                "http or https URL. Clear both to remove a link."
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_search_results(self, request, queryset, search_term):
        # The public search's tokens (characters/search_index.py), not a substring scan.
        term = search_term.strip()
        if not term:
            return queryset, False
        names = Character.objects.name_matches(term)
        if term.isascii() and term.isdigit() and len(term) <= 18:
            names |= Q(pk=int(term))
        return queryset.filter(names), False

    class Media:
        js = ("js/site.js",)  # a thumbnail that fails to load shows the placeholder
        css = {"all": ("css/admin.css",)}  # chosen comics' titles in full

    @admin.display(description="")
    def thumbnail(self, obj):
        # The upload, else Marvel's (none, or not an http(s) URL: the placeholder).
        placeholder = static(PLACEHOLDER_IMAGE)
        url = obj.upload_url("card") or obj.image_url("standard_medium") or placeholder
        return format_html(
            '<img src="{}" alt="" width="50" height="50" loading="lazy" data-fallback="{}">',
            url,
            placeholder,
        )

    @admin.display(description="image")
    def preview(self, obj):
        if not (url := obj.upload_url("detail") or obj.image_url()):
            return "No image"
        shown = "Uploaded here" if obj.image_upload else "Marvel's"
        return format_html('<img src="{}" alt="{}" width="150"><p>{}</p>', url, obj.name, shown)

    def save_model(self, request, obj, form, change):
        if not change and (prepared := form.cleaned_data.get("upload")):
            obj.image_upload = images.store(prepared)
        return super().save_model(request, obj, form, change)

    changed_besides_form = ("image_upload",)

    def save_besides_form(self, obj, form) -> list[str]:
        """An upload: stored (outside the transaction: content-addressed, so a retry finds it),
        and an edit of the "image" group like any other."""
        if (prepared := form.cleaned_data.get("upload")) is None:
            return []
        replaced = obj.image_upload
        obj.image_upload = images.store(prepared)
        if replaced != obj.image_upload:
            images.delete_when_unused(replaced, obj._state.db)
        return ["image_upload"]

    @admin.display(description="comics linked")
    def comics_linked(self, obj):
        return getattr(obj, "linked_count", None)

    def save_related(self, request, form, formsets, change):
        # The comics through the links' index (Character.set_comic_ids), not the form's
        # character.comics.set(), which MongoDB answers by scanning every comic.
        comics = form.cleaned_data.pop("comics", None)
        super().save_related(request, form, formsets, change)
        if comics is not None and (not change or "comics" in form.changed_data):
            form.instance.set_comic_ids(comic.pk for comic in comics)

    def delete_model(self, request, obj):
        self._delete(request, [obj])

    def delete_queryset(self, request, queryset):
        self._delete(request, queryset)

    def _delete(self, request, characters):
        if tombstones := ownership.delete_characters(characters):
            self.message_user(
                request,
                f"Imports will not re-create {', '.join(t.name for t in tombstones)}: see "
                "“Deleted Marvel characters” to let them.",
                messages.INFO,
            )

    def get_object(self, request, object_id, from_field=None):
        character = super().get_object(request, object_id, from_field)
        if character is not None:
            # What prefetch_related("comics") does (django-mongodb-backend has none): the form
            # reads character.comics.all() from here, through the links' character_id index,
            # instead of a query that MongoDB answers by joining every comic to the links.
            character._prefetched_objects_cache = {
                "comics": Comic.objects.filter(id__in=character.comic_ids())
            }
        return character


class ComicChangeList(IndexedChangeList):
    """The title column sorts by the folded title, the index the title search reads."""

    def get_ordering_field(self, field_name):
        if field_name == "title":
            return "title_key"
        return super().get_ordering_field(field_name)

    def get_ordering(self, request, queryset):
        # Reversed, the tie-breaker is reversed too: the index is read backwards, not sorted.
        ordering = super().get_ordering(request, queryset)
        if ordering and ordering[0] == "-title_key":
            ordering = ["-id" if field in ("id", "pk") else field for field in ordering]
        return ordering


@admin.register(Comic)
class ComicAdmin(KeptCountMixin, OwnershipAdminMixin, admin.ModelAdmin):
    list_display = ("title", "id", "updated_at", "edited_here")
    list_filter = (EditedHereFilter,)
    # The search (the changelist's and the characters' comic chooser's) is below.
    search_fields = ("title",)
    search_help_text = "Search by the start of a title (any case or accents) or a Marvel id."
    ordering = ("title_key", "id")
    list_per_page = 50
    formfield_overrides = URL_FIELDS
    fields = (
        "id",
        "ownership",
        "title",
        "resource_uri",
        "appearing_characters",
        "created_at",
        "updated_at",
    )
    readonly_fields = ("id", "ownership", "appearing_characters", "created_at", "updated_at")

    def get_changelist(self, request, **kwargs):
        return ComicChangeList

    def get_search_results(self, request, queryset, search_term):
        # A prefix of the folded title: an anchored, case-sensitive pattern on title_key,
        # one range of its index on MongoDB (an icontains on the title scans every comic).
        term = search_term.strip()
        folded = search.sort_key(term)
        if not folded:
            return (queryset.none() if term else queryset), False
        titles = Q(title_key__startswith=folded)
        if term.isascii() and term.isdigit() and len(term) <= 18:
            titles |= Q(pk=int(term))
        return queryset.filter(titles), False

    def has_delete_permission(self, request, obj=None):
        # Marvel's comics come back with the next import of any character listing them:
        # remove them from characters instead (kept as a local edit). Local ones may go.
        if obj is not None and not obj.is_local:
            return False
        return super().has_delete_permission(request, obj)

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


@admin.register(DeletedCharacter)
class DeletedCharacterAdmin(OneTransactionMixin, IdSearchMixin, admin.ModelAdmin):
    """Marvel characters deleted here, which imports do not re-create (tombstones)."""

    list_display = ("name", "id", "deleted_at")
    search_fields = ("name",)
    search_text_field = "name"
    search_help_text = "Search by name or Marvel id."
    ordering = ("name", "id")
    list_per_page = 50
    paginator = IndexedPaginator
    actions = ["let_imports_recreate"]

    def get_changelist(self, request, **kwargs):
        return IndexedChangeList

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # the action below says what deleting one means
        return actions

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Let imports re-create them", permissions=["delete"])
    def let_imports_recreate(self, request, queryset):
        rows = list(queryset)
        self.log_deletions(request, rows)
        DeletedCharacter.objects.filter(pk__in=[row.pk for row in rows]).delete()
        self.message_user(
            request,
            f"The next import re-creates {', '.join(row.name for row in rows)} (if Marvel "
            "still lists them).",
            messages.SUCCESS,
        )


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    """Each seed_marvel run, newest first: read-only (history.py writes and prunes it)."""

    list_display = (
        "started_at",
        "outcome",
        "heartbeat",
        "source",
        "duration",
        "created",
        "updated",
        "local_edits_kept",
        "errors",
        "host",
        "pid",
    )
    list_filter = ("outcome",)
    ordering = ("-started_at",)
    list_per_page = 50
    fields = (
        "started_at",
        "finished_at",
        "outcome",
        "heartbeat",
        "source",
        "options",
        "counters",
        "local_edits_kept",
        "errors",
        "error",
        "host",
        "pid",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="last heartbeat")
    def heartbeat(self, run):
        if run.outcome != ImportRun.RUNNING:
            return "–"
        age = heartbeat_age(run)
        if age is None:
            return "no lock held: stopped without finishing"
        return f"{age.total_seconds():.0f}s ago"

    @admin.display(description="duration")
    def duration(self, run):
        if run.finished_at is None:
            return "–"
        return f"{(run.finished_at - run.started_at).total_seconds():.1f}s"

    @admin.display(description="characters created")
    def created(self, run):
        return run.counters.get("characters_created", "–")

    @admin.display(description="characters updated")
    def updated(self, run):
        return run.counters.get("characters_updated", "–")
