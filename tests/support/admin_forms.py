"""An admin change form as a browser would submit it: every input, textarea and selected
option of the page's form, by name (a list per name, like a QueryDict); or, without the page,
a character's change form built from the row the test holds."""

import json
from html.parser import HTMLParser


class _FormReader(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.values: dict[str, list[str]] = {}
        self._textarea: str | None = None
        self._select: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "checkbox", "file"):
            self.values.setdefault(name, []).append(attrs.get("value") or "")
        elif tag == "input" and name and attrs.get("type") == "checkbox" and "checked" in attrs:
            self.values.setdefault(name, []).append(attrs.get("value") or "on")
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []
        elif tag == "select" and name:
            self._select = name
            self.values.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in attrs:
            self.values[self._select].append(attrs.get("value") or "")

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "textarea" and self._textarea:
            text = "".join(self._text)
            # A browser drops the one newline that follows <textarea>.
            self.values.setdefault(self._textarea, []).append(text.removeprefix("\n"))
            self._textarea = None
        elif tag == "select":
            self._select = None


def form_values(html: str) -> dict[str, list[str]]:
    reader = _FormReader()
    reader.feed(html)
    return reader.values


def flat(values: dict[str, list[str]], **changes) -> dict:
    """`values` as post data (one value as itself), with `changes` applied."""
    data = {k: v[0] if len(v) == 1 else v for k, v in values.items()}
    data.update(changes)
    data["_save"] = "Save"
    return data


def change_data(character, **changes) -> dict:
    """The change form of `character` as the test holds it (opened at its version), as post
    data with `changes` applied."""
    data = {
        "name": character.name,
        "description": character.description,
        "comics": [str(pk) for pk in character.comic_ids()],
        "thumbnail_path": character.thumbnail_path,
        "thumbnail_extension": character.thumbnail_extension,
        "urls": json.dumps(character.urls),
        "opened_version": str(character.version),
        "_save": "Save",
    }
    return data | changes
