"""The list page's query string as a Django form: anything unexpected falls back to a default."""

import unicodedata
from urllib.parse import urlencode

from django import forms

from characters.models import CHARACTER_ORDERINGS, Character
from characters.paging import Tiers

DEFAULT_SORT = "name"
SORT_LABELS = {
    "name": "Name (A–Z)",
    "-name": "Name (Z–A)",
    "modified": "Least recently modified",
    "-modified": "Most recently modified",
    "comics": "Fewest comics",
    "-comics": "Most comics",
}
assert set(SORT_LABELS) == set(CHARACTER_ORDERINGS)  # keep the two in step
NAME_MAX = Character._meta.get_field("name").max_length
FEATURED_COUNT = 6
PAGE_DIGITS_MAX = 18  # more digits than any page count: the last page


class SearchField(forms.CharField):
    """Text with control characters (NUL included) turned into spaces, whitespace collapsed."""

    def to_python(self, value):
        value = super().to_python(value)
        value = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in value)
        return " ".join(value.split())


class FlagField(forms.BooleanField):
    """True only for what a checkbox or a person sends for yes: 1, on, true, yes."""

    widget = forms.TextInput  # CheckboxInput would read any other text as True

    def to_python(self, value):
        return str(value).strip().lower() in {"1", "on", "true", "yes"}


class PageField(forms.CharField):
    """A page number of ASCII digits; anything else is invalid (the first page)."""

    def to_python(self, value):
        value = super().to_python(value)
        if not (value.isascii() and value.isdigit()):
            raise forms.ValidationError("not a page number", code="invalid")
        return max(int(value[:PAGE_DIGITS_MAX]), 1)  # Paginator.get_page() clamps the top


class IdListField(forms.CharField):
    """Up to `count` distinct Marvel ids from "1,2,3"; anything else in the text is ignored."""

    def __init__(self, *, count: int, **kwargs):
        self.count = count
        super().__init__(required=False, **kwargs)

    def to_python(self, value):
        ids = []
        for part in super().to_python(value).split(",")[: self.count * 2]:
            part = part.strip()
            if part.isascii() and part.isdigit() and len(part) <= 18 and int(part) not in ids:
                ids.append(int(part))
            if len(ids) == self.count:
                break
        return ids


class FeaturedForm(forms.Form):
    """The home page's `?ids=1,2,3,4,5,6&reload=3`: the cards shown, and the one to re-roll."""

    ids = IdListField(count=FEATURED_COUNT)
    reload = IdListField(count=1)

    def __init__(self, query):
        super().__init__(query)
        self.is_valid()  # both fields are always valid: unusable parts are dropped
        self.shown_ids = self.cleaned_data["ids"]
        self.reload_ids = [i for i in self.cleaned_data["reload"] if i in self.shown_ids]


class CharacterFilterForm(forms.Form):
    q = SearchField(required=False, max_length=NAME_MAX)
    sort = forms.ChoiceField(choices=SORT_LABELS.items(), required=False)
    image = FlagField(required=False)
    page = PageField(required=False)

    def __init__(self, query):
        super().__init__(query)
        self.is_valid()  # invalid fields fall back to their defaults
        data = self.cleaned_data
        self.search_too_long = "q" in self.errors
        self.search = data.get("q", "")
        # The search as typed, cut to a name's length, for showing back.
        self.search_shown = self.search or self.fields["q"].to_python(self.data.get("q"))[:NAME_MAX]
        self.sort_key = data.get("sort") or DEFAULT_SORT
        self.with_image = data.get("image", False)
        self.page_number = data.get("page") or 1

    def characters(self) -> Tiers:
        """The characters asked for, as querysets read one after another: a search by name
        in its ranks (exact name, name prefix, word prefixes), the oldest first with the
        unknown dates last."""
        if self.search_too_long:  # no name is that long: nothing can match
            return Tiers([("none", Character.objects.none())])
        characters = Character.objects.all()
        if self.with_image:
            characters = characters.with_image()
        if self.search and self.sort_key == DEFAULT_SORT:
            return characters.ranked_search(self.search)
        return characters.search(self.search).tiers(self.sort_key)

    def filter_pairs(self) -> list[tuple[str, str]]:
        """What selects the rows (not their order or page), canonical."""
        if self.search_too_long:
            # Its own text, cut and still too long: never the plain list's cached page, and
            # one cache entry for every search that starts the same.
            pairs = [("q", self.search_shown + "…")]
        else:
            pairs = [("q", self.search)] if self.search else []
        if self.with_image:
            pairs.append(("image", "1"))
        return pairs

    def count_key(self) -> str:
        """The filter's canonical text, which its counts are kept under (with the tier's name:
        a search too long to match has its own, "none")."""
        return urlencode(self.filter_pairs())

    def query_string(self, page: int | None = None) -> str:
        """The canonical query string: fixed order, defaults and unknown parameters left out."""
        page = self.page_number if page is None else page
        pairs = self.filter_pairs()
        if self.sort_key != DEFAULT_SORT:
            pairs.append(("sort", self.sort_key))
        if page > 1:
            pairs.append(("page", page))
        return urlencode(pairs)
