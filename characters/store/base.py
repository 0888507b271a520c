"""What a store does: the contract sql.py and mongo.py implement (one instance per alias)."""

import random

from django.db import connections


class Store:
    def __init__(self, alias: str):
        self.alias = alias

    @property
    def connection(self):
        return connections[self.alias]  # per thread: never kept

    # --- reads ------------------------------------------------------------------------------
    def pairs(self, model, field: str, values, key: str, value: str) -> list[tuple]:
        """[(key, value)] of `model`'s rows whose `field` is one of `values` (plain fields);
        no query for no values."""
        raise NotImplementedError

    def pairs_through(self, links, field: str, values, other: str, model, value: str) -> list:
        """[(link's `field`, link's `other`, `value` of the `model` row whose key is that
        `other`)] for the `links` rows whose `field` is one of `values`, leaving out links
        to no row; no query for no values."""
        found = self.pairs(links, field, values, field, other)
        pk = model._meta.pk.name
        values_of = dict(self.pairs(model, pk, {key for _, key in found}, pk, value))
        return [(own, key, values_of[key]) for own, key in found if key in values_of]

    def by_pk_through(self, rows, pk, links, field: str, other: str, model, value: str):
        """(by_pk(rows, pk), [(link's `other`, `value`)] of pairs_through() for that row), the
        pairs empty when there is no row: a detail page's row and what its links point at."""
        found = self.by_pk(rows, pk)
        if found is None:
            return None, []
        # The contract's own two reads: what a store's by_pk_through falls back to.
        pairs = Store.pairs_through(self, links, field, [found.pk], other, model, value)
        return found, [(key, value) for _, key, value in pairs]

    def by_pk_linked_rows(self, rows, pk, links, field: str, other: str, model):
        """(by_pk(rows, pk), linked_rows() of that row), the rows empty when there is none."""
        found = self.by_pk(rows, pk)
        if found is None:
            return None, []
        return found, self.linked_rows(links, field, found.pk, other, model)

    def linked_rows(self, links, field: str, value, other: str, model) -> list:
        """The `model` rows that the `links` rows whose `field` is `value` point at by
        `other`, in no order."""
        keys = sorted({key for _, key in self.pairs(links, field, [value], field, other)})
        rows = model._default_manager.using(self.alias).filter(pk__in=keys).order_by()
        return rows.window(0, len(keys)) if keys else []

    def sample(self, after, before, size: int, count: int) -> list:
        """`count` rows (fewer if there are not enough) drawn at random, in random order, from
        the first `size` rows of `after`, followed by the first of `before` when `after` has
        fewer: one read, or two."""
        found = after.window(0, size)
        if len(found) < size:
            found += before.window(0, size - len(found))
        return random.sample(found, min(count, len(found)))

    def count(self, rows) -> int:
        """`rows.count()` as the database serves it best (QuerySet.count is overridden with
        this: IndexedQuerySet)."""
        raise NotImplementedError

    def window(self, rows, start: int, stop: int) -> list:
        """`list(rows[start:stop])`, read in the ordering's index order."""
        raise NotImplementedError

    def windows(self, parts) -> list[list]:
        """[rows.window(start, stop, count=size)] for each (rows, start, stop, size) of
        `parts`: a page's windows of several querysets one after another (paging.Tiers)."""
        return [rows.window(start, stop, count=size) for rows, start, stop, size in parts]

    def by_pk(self, rows, pk):
        """The row of `rows` with this primary key, or None."""
        found = list(rows.filter(pk=pk).order_by()[:1])
        return found[0] if found else None

    def version_token(self, model) -> str:
        """The `token` of `model`'s row 1 ("" without one; CatalogueVersion): one indexed read,
        written out, as the ORM's query building costs more than the query; logged and
        counted as the ORM's queries are."""
        raise NotImplementedError

    def changes_seen(self):
        """A value that changes with every commit to this database by any connection, or None
        when there is none (MongoDB: a change stream tells instead)."""
        raise NotImplementedError

    def has_change_streams(self) -> bool:
        """Whether `watch()` can follow changes (a MongoDB replica set)."""
        return False

    def applied_migrations(self) -> set[tuple[str, str]]:
        """(app, name) of every migration applied; one query."""
        raise NotImplementedError

    # --- transactions -----------------------------------------------------------------------
    def has_transactions(self) -> bool:
        """Whether `atomic()` makes writes all-or-nothing (not on a standalone mongod)."""
        raise NotImplementedError

    def atomic(self):
        """A context manager: all-or-nothing writes where has_transactions()."""
        raise NotImplementedError

    def savepoint(self):
        """A context manager: a refused write inside it leaves an enclosing transaction usable
        (SQLite's savepoint; on MongoDB nothing: one document's insert is atomic by itself)."""
        raise NotImplementedError

    def in_transaction(self) -> bool:
        """Whether reads now see a transaction's own view of the data."""
        raise NotImplementedError

    def aborts_on_refusal(self) -> bool:
        """Whether a refused write now aborts the whole transaction (no savepoint to try
        again from)."""
        raise NotImplementedError

    def transaction_lifetime(self) -> float:
        """How long an abandoned transaction can hold its rows, in seconds (0: none can)."""
        raise NotImplementedError

    # --- the search tokens' index (characters/search_index.py) ------------------------------
    def ensure_token_index(self) -> None:
        """Create the name tokens' index if it is missing (idempotent; after every migrate)."""
        raise NotImplementedError

    def drop_token_index(self) -> None:
        """What ensure_token_index() made, where a migration back must drop it first."""

    def token_window(self, rows, token: str, start: int, stop: int) -> list:
        """`window(rows, start, stop)` for rows that all have `token`, ordered by name."""
        return self.window(rows, start, stop)
