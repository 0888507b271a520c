"""Search tokens as a field: how a name token is looked up (Django compiles the lookup per
backend, as_sql / as_mql) and where its index lives; the store makes and reads the index.

`Character.name_tokens` (characters/search.py makes them) is filtered with
`name_tokens__has_token="spider"`, equality on one token, which an index serves on both:

- MongoDB: the array field itself, under a multikey index {name_tokens, sort_name, id}: a
  token's matches come out in name order, read from the index with tight bounds.
- SQLite: a side table of (token, sort_name, character_id) rows with an index, kept by
  triggers from the JSON array.
The index is made and read by the store (characters/store/: ensure_token_index,
token_window); this module keeps the field, its lookup and the names.

Atlas Search (django-mongodb-backend's SearchIndex / SearchAutocomplete) needs `mongot`
(MongoDB >= 8.2 with the search process): a possible later path, never required here.
"""

# ruff: noqa: S105, S608 (SQL made of the constant table names below, never of input)

from django.db import connections, models
from django.db.models import Lookup

from characters import store

MONGO_TOKEN_INDEX = "character_name_tokens"
SQLITE_TOKEN_TABLE = "characters_character_token"
CHARACTER_TABLE = "characters_character"


class SearchTokensField(models.JSONField):
    """A JSON list of search tokens, with the `has_token` lookup."""


@SearchTokensField.register_lookup
class HasToken(Lookup):
    lookup_name = "has_token"
    prepare_rhs = False
    can_use_path = True  # MongoDB: a plain {field: value} match an index serves

    def get_db_prep_lookup(self, value, connection):
        return "%s", [value]

    # --- SQLite -------------------------------------------------------------------------
    def as_sql(self, compiler, connection):
        table = compiler.quote_name_unless_alias(self.lhs.alias)
        subquery = f"SELECT character_id FROM {SQLITE_TOKEN_TABLE} WHERE token = %s"
        return f'{table}."id" IN ({subquery})', [self.rhs]

    # --- MongoDB ------------------------------------------------------------------------
    def as_mql_path(self, compiler, connection):
        return {self.lhs.as_mql(compiler, connection): self.rhs}

    def as_mql_expr(self, compiler, connection):
        tokens = self.lhs.as_mql(compiler, connection, as_expr=True)
        return {"$in": [self.rhs, {"$ifNull": [tokens, []]}]}


def ensure_token_index(connection) -> None:
    """Create the token index if it is missing (idempotent; run after every migrate)."""
    store.for_alias(connection.alias).ensure_token_index()


def token_window(rows, token: str, start: int, stop: int) -> list:
    """`rows.window(start, stop)` for rows that all have `token`, ordered by name (on SQLite
    from the token table's index; MongoDB's multikey index already reads them so)."""
    return store.of(rows).token_window(rows, token, start, stop)


class TokenOrdered:
    """A queryset whose rows all have `token`, ordered by name: read with token_window()."""

    def __init__(self, rows, token: str):
        self.rows, self.token = rows, token

    def __getattr__(self, name):
        return getattr(self.rows, name)

    def window(self, start: int, stop: int, count: int | None = None) -> list:
        """Read forward whatever `count` says (a search's matches are few pages)."""
        return token_window(self.rows, self.token, start, stop)

    def oriented(self, start: int, stop: int, count: int | None = None):
        """The read window() makes, as IndexedQuerySet.oriented() gives it: forward."""
        return self.rows, start, stop, False


def drop_token_index(connection) -> None:
    """What ensure_token_index() made, dropped (migrating back before the tokens: SQLite
    refuses to drop a column a trigger names)."""
    store.for_alias(connection.alias).drop_token_index()


def ensure_after_migrate(using, **kwargs) -> None:
    ensure_token_index(connections[using])
