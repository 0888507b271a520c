"""The one place search knows the backend: how a name token is looked up and indexed.

`Character.name_tokens` (characters/search.py makes them) is filtered with
`name_tokens__has_token="spider"`, equality on one token, which an index serves on both:

- MongoDB: the array field itself, under a multikey index {name_tokens, sort_name, id}: a
  token's matches come out in name order, read from the index with tight bounds.
- SQLite: a side table of (token, character_id) rows with an index, kept by triggers from the
  JSON array. Chosen over FTS5: the tokens are made here (folded, word prefixes), so FTS5's
  tokenizer would add nothing but a second notion of a word.

Atlas Search (django-mongodb-backend's SearchIndex / SearchAutocomplete) needs `mongot`
(MongoDB >= 8.2 with the search process): a possible later path, never required here.
"""

# ruff: noqa: S105, S608 (SQL made of the constant table names below, never of input)

from django.core.exceptions import EmptyResultSet
from django.db import connections, models
from django.db.models import Lookup

MONGO_TOKEN_INDEX = "character_name_tokens"
SQLITE_TOKEN_TABLE = "characters_character_token"
CHARACTER_TABLE = "characters_character"
SQLITE_TOKEN_COLUMNS = {"token", "sort_name", "character_id"}


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


SQLITE_TRIGGERS = {
    f"{SQLITE_TOKEN_TABLE}_insert": f"""
        AFTER INSERT ON {CHARACTER_TABLE} WHEN NEW.name_tokens IS NOT NULL BEGIN
            INSERT INTO {SQLITE_TOKEN_TABLE} (token, sort_name, character_id)
            SELECT value, NEW.sort_name, NEW.id FROM json_each(NEW.name_tokens);
        END""",
    f"{SQLITE_TOKEN_TABLE}_update": f"""
        AFTER UPDATE OF name_tokens, sort_name, id ON {CHARACTER_TABLE} BEGIN
            DELETE FROM {SQLITE_TOKEN_TABLE} WHERE character_id = OLD.id;
            INSERT INTO {SQLITE_TOKEN_TABLE} (token, sort_name, character_id)
            SELECT value, NEW.sort_name, NEW.id FROM json_each(coalesce(NEW.name_tokens, '[]'));
        END""",
    f"{SQLITE_TOKEN_TABLE}_delete": f"""
        AFTER DELETE ON {CHARACTER_TABLE} BEGIN
            DELETE FROM {SQLITE_TOKEN_TABLE} WHERE character_id = OLD.id;
        END""",
}


def ensure_token_index(connection) -> None:
    """Create the token index if it is missing (idempotent; run after every migrate).

    On SQLite a migration that rebuilds the characters table drops its triggers: then they
    are made again and the side table refilled from the JSON arrays.
    """
    tables = connection.introspection.table_names()
    if CHARACTER_TABLE not in tables:
        return
    if connection.vendor == "mongodb":
        collection = connection.get_collection(CHARACTER_TABLE)
        keys = [("name_tokens", 1), ("sort_name", 1), ("id", 1)]
        collection.create_index(keys, name=MONGO_TOKEN_INDEX)
        return
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        columns = connection.introspection.get_table_description(cursor, CHARACTER_TABLE)
        if "name_tokens" not in {column.name for column in columns}:
            return  # migrated back before the tokens: drop_token_index() dropped them
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
            [CHARACTER_TABLE],
        )
        have = {row[0] for row in cursor.fetchall()}
        token_columns = set()
        if SQLITE_TOKEN_TABLE in tables:
            description = connection.introspection.get_table_description(cursor, SQLITE_TOKEN_TABLE)
            token_columns = {column.name for column in description}
        if have.issuperset(SQLITE_TRIGGERS) and token_columns == SQLITE_TOKEN_COLUMNS:
            return
        for name in SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        cursor.execute(f"DROP TABLE IF EXISTS {SQLITE_TOKEN_TABLE}")
        cursor.execute(
            f"CREATE TABLE {SQLITE_TOKEN_TABLE} "
            "(token TEXT NOT NULL, sort_name TEXT, character_id INTEGER NOT NULL)"
        )
        # A token's names in name order: a search page reads its rows from here.
        cursor.execute(
            f"CREATE INDEX {SQLITE_TOKEN_TABLE}_token "
            f"ON {SQLITE_TOKEN_TABLE} (token, sort_name, character_id)"
        )
        cursor.execute(
            f"CREATE INDEX {SQLITE_TOKEN_TABLE}_character ON {SQLITE_TOKEN_TABLE} (character_id)"
        )
        for name, body in SQLITE_TRIGGERS.items():
            cursor.execute(f"CREATE TRIGGER {name} {body}")
        cursor.execute(
            f"INSERT INTO {SQLITE_TOKEN_TABLE} (token, sort_name, character_id) "
            f"SELECT tokens.value, c.sort_name, c.id "
            f"FROM {CHARACTER_TABLE} c, json_each(c.name_tokens) tokens "
            "WHERE c.name_tokens IS NOT NULL"
        )


def token_window(rows, token: str, start: int, stop: int) -> list:
    """`rows.window(start, stop)` for rows that all have `token`, ordered by name.

    On SQLite, read from the token table's (token, sort key) index, the rest of the filter
    applied to each row: the page stops after its rows, where filtering on the token's ids
    first fetched and sorted every match. MongoDB's multikey index already reads them so.
    """
    connection = connections[rows.db]
    if connection.vendor != "sqlite" or stop <= start:
        return rows.window(start, stop)
    query = rows.query
    try:
        where, params = query.get_compiler(using=rows.db).compile(query.where)
    except EmptyResultSet:
        return []
    table = rows.model._meta.db_table
    sql = (
        f'SELECT "{table}".* FROM {SQLITE_TOKEN_TABLE} t JOIN "{table}" '
        f'ON "{table}"."id" = t.character_id WHERE t.token = %s AND ({where}) '
        "ORDER BY t.sort_name, t.character_id LIMIT %s OFFSET %s"
    )
    manager = rows.model._default_manager.db_manager(rows.db)
    return list(manager.raw(sql, [token, *params, stop - start, start]))


class TokenOrdered:
    """A queryset whose rows all have `token`, ordered by name: read with token_window()."""

    def __init__(self, rows, token: str):
        self.rows, self.token = rows, token

    def __getattr__(self, name):
        return getattr(self.rows, name)

    def window(self, start: int, stop: int) -> list:
        return token_window(self.rows, self.token, start, stop)


def drop_token_index(connection) -> None:
    """What ensure_token_index() made on SQLite, dropped (migrating back before the tokens:
    SQLite refuses to drop a column a trigger names)."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for name in SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        cursor.execute(f"DROP TABLE IF EXISTS {SQLITE_TOKEN_TABLE}")


def ensure_after_migrate(using, **kwargs) -> None:
    from django.db import connections

    ensure_token_index(connections[using])
