"""A character's links edited as rows (type, URL) instead of a JSON textarea.

One form field over the ``urls`` JSON, so the change form's save path stays as it is: the
"links" ownership group, the hidden value the form was opened with, the compare-and-swap.
Each row is checked on its own and its error names its row; empty rows are dropped.
"""

from __future__ import annotations

import json

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from marvelsite.hygiene import is_web_url

LINK_TYPES = ("detail", "wiki", "comiclink")  # Marvel's; others are kept as typed
BLANK_ROWS = 3  # new rows offered; "Save and continue editing" offers three more
MAX_ROWS = 100
MAX_TYPE_LENGTH = 40
MAX_URL_LENGTH = 300


def _rows(value) -> list:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return value if isinstance(value, list) else []


def _blank(row) -> bool:
    return isinstance(row, dict) and not row.get("type") and not row.get("url")


class LinkRowsWidget(forms.Widget):
    """Rows of (type, URL) inputs named ``NAME-N-type`` and ``NAME-N-url``, and ``NAME-rows``
    saying how many; a client that posts the JSON under ``NAME`` alone is read as before."""

    def render(self, name, value, attrs=None, renderer=None):
        rows = [row if isinstance(row, dict) else {} for row in _rows(value)]
        rows += [{}] * BLANK_ROWS
        body = format_html_join(
            "",
            "<tr><td>{}</td>"
            '<td><input type="text" name="{}-{}-type" value="{}" list="{}-types" '
            'maxlength="{}" size="12" aria-label="Link {} type"></td>'
            '<td><input type="text" inputmode="url" name="{}-{}-url" value="{}" '
            'maxlength="{}" size="70" aria-label="Link {} URL"></td></tr>',
            (
                (n + 1, name, n, str(row.get("type") or ""), name, MAX_TYPE_LENGTH, n + 1)
                + (name, n, str(row.get("url") or ""), MAX_URL_LENGTH, n + 1)
                for n, row in enumerate(rows)
            ),
        )
        options = format_html_join("", '<option value="{}">', ((t,) for t in LINK_TYPES))
        return format_html(
            '<table class="link-rows" id="{}"><thead><tr><th>#</th><th>Type</th><th>URL</th>'
            '</tr></thead><tbody>{}</tbody></table><input type="hidden" name="{}-rows" '
            'value="{}"><datalist id="{}-types">{}</datalist>',
            (attrs or {}).get("id", f"id_{name}"),
            body,
            name,
            len(rows),
            name,
            options,
        )

    def value_from_datadict(self, data, files, name):
        count = data.get(f"{name}-rows")
        if count is None:
            return data.get(name)
        try:
            count = min(int(count), MAX_ROWS)
        except ValueError:
            count = 0
        return [
            {
                "type": (data.get(f"{name}-{n}-type") or "").strip(),
                "url": (data.get(f"{name}-{n}-url") or "").strip(),
            }
            for n in range(count)
        ]

    def value_omitted_from_data(self, data, files, name):
        return f"{name}-rows" not in data and name not in data


class LinkRowsField(forms.JSONField):
    """The links as a list of {"type", "url"}: http(s) URLs only, an error per bad row."""

    widget = LinkRowsWidget

    def bound_data(self, data, initial):
        return data if isinstance(data, list) else super().bound_data(data, initial)

    def to_python(self, value):
        rows = value if isinstance(value, list) else super().to_python(value)
        if rows is None:
            return []
        if not isinstance(rows, list):
            raise ValidationError("Links are a list of rows: type and URL.", code="invalid")
        return rows

    def validate(self, value):
        super().validate(value)
        errors = []
        for n, row in enumerate(value, 1):
            if _blank(row):
                continue
            if not isinstance(row, dict) or not isinstance(row.get("url", ""), str):
                errors.append(f"Link {n}: a row is a type and a URL.")
                continue
            url, kind = row.get("url") or "", row.get("type") or ""
            if not url:
                errors.append(f"Link {n}: enter a URL, or clear the row's type.")
            elif len(url) > MAX_URL_LENGTH:
                errors.append(f"Link {n}: the URL is longer than {MAX_URL_LENGTH} characters.")
            elif not is_web_url(url):
                errors.append(f"Link {n}: “{url[:80]}” is not an http or https URL.")
            if not isinstance(kind, str) or not kind:
                errors.append(f"Link {n}: enter a type ({', '.join(LINK_TYPES)}).")
            elif len(kind) > MAX_TYPE_LENGTH:
                errors.append(f"Link {n}: the type is longer than {MAX_TYPE_LENGTH} characters.")
        if errors:
            raise ValidationError(errors)

    def clean(self, value):
        rows = super().clean(value)
        return [{"type": row["type"], "url": row["url"]} for row in rows if not _blank(row)]

    def has_changed(self, initial, data):
        try:
            rows = [row for row in self.to_python(data) if not _blank(row)]
        except ValidationError:
            return True
        before = json.dumps(initial or [], sort_keys=True)
        return before != json.dumps(rows, sort_keys=True)
