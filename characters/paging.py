"""Paging through rows read in index order: Tiers (several querysets one after another) and a
Paginator over a bounded page range that reads each page with `window()` (the store's)."""

from django.core.paginator import Page, Paginator
from django.utils.functional import cached_property

from characters import store

# Pages a list serves (IndexedPaginator): 2,400 characters at 24 a page, 5,000 in the admin.
MAX_PAGES = 100


class Tiers:
    """Rows of several querysets one after another (a search's ranks; known dates before
    unknown ones), each read in its own index order: what IndexedPaginator pages through.

    `parts`: (name, queryset), or (name, queryset, counter) where counter(count) works the
    tier's size out from other counts (a difference of two index counts instead of a count that
    must fetch every row to test a negation). `count(rows, name)`: how a queryset is counted.
    The name says which of the filter's querysets it is ("all", "known", "exact", ...), one
    name for the same rows whatever the sort: a caller keeps counts under its own key for the
    filter and this name (the list view: page_cache.kept_count).
    """

    def __init__(self, parts, count=None):
        self.parts = [
            (name, rows, counter[0] if counter else None) for name, rows, *counter in parts
        ]
        self._count = count or (lambda rows, name: rows.count())

    def counted_with(self, count) -> "Tiers":
        return Tiers(self.parts, count)

    @cached_property
    def counts(self) -> list[int]:
        return [
            max(counter(self._count), 0) if counter else self._count(rows, name)
            for name, rows, counter in self.parts
        ]

    def count(self) -> int:
        return sum(self.counts)

    def window(self, start: int, stop: int, count: int | None = None) -> list:
        """Rows start to stop of all the tiers (`count` unused: each tier knows its own)."""
        wanted = self.parts_in(start, stop)
        if not wanted:
            return []
        return [row for rows in store.of(wanted[0][0]).windows(wanted) for row in rows]

    def parts_in(self, start: int, stop: int) -> list[tuple]:
        """(rows, start, stop, size) of each tier that rows start to stop reach, in the tier's
        own terms: what the store's windows() reads."""
        wanted = []
        for (_, rows, _), size in zip(self.parts, self.counts, strict=True):
            if start < size and stop > 0:
                wanted.append((rows, max(start, 0), min(stop, size), size))
            start, stop = start - size, stop - size
        return wanted


class IndexedPage(Page):
    def end_index(self) -> int:
        if self.paginator.truncated and self.number == self.paginator.num_pages:
            return self.number * self.paginator.per_page  # a full page, not the last row
        return super().end_index()


class IndexedPaginator(Paginator):
    """Django's Paginator over a bounded page range, reading each page with
    IndexedQuerySet.window().

    A page costs its distance to the nearer end: both backends walk every index key before
    the rows they return (MongoDB's $skip, SQLite's OFFSET), and a page past the middle is
    read from the end (IndexedQuerySet.window with the count), which helps lists of fewer
    than twice `max_pages` pages: in a longer one every page served is nearer the start, and
    the last one served costs `max_pages` times the first. Only the first `max_pages` pages
    are served (`num_pages` stops there; a later number is out of range as Django's
    paginators have it); `count` stays the number of rows and `truncated` says there are
    more than the pages reach: a search, a filter or the reversed sort reach the others.
    """

    max_pages = MAX_PAGES

    def __init__(self, *args, max_pages: int | None = None, count: int | None = None, **kwargs):
        """`count`: the number of rows when the caller knows it (a count kept per catalogue
        version, characters/page_cache.py), else the rows are counted."""
        super().__init__(*args, **kwargs)
        if max_pages is not None:
            self.max_pages = max_pages
        if count is not None:
            self.count = count  # Paginator.count is a cached_property: this is its value

    @cached_property
    def num_pages(self) -> int:
        return min(Paginator.num_pages.func(self), self.max_pages)

    @property
    def truncated(self) -> bool:
        return Paginator.num_pages.func(self) > self.max_pages

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        rows = self.object_list
        if hasattr(rows, "window"):
            rows = rows.window(bottom, top, count=self.count)
        else:
            rows = rows[bottom:top]
        return self._get_page(rows, number, self)

    def _get_page(self, *args, **kwargs):
        return IndexedPage(*args, **kwargs)
