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

from django.db import models
from django.db.models import Lookup

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


SQLITE_TRIGGERS = {
    f"{SQLITE_TOKEN_TABLE}_insert": f"""
        AFTER INSERT ON {CHARACTER_TABLE} WHEN NEW.name_tokens IS NOT NULL BEGIN
            INSERT INTO {SQLITE_TOKEN_TABLE} (token, character_id)
            SELECT value, NEW.id FROM json_each(NEW.name_tokens);
        END""",
    f"{SQLITE_TOKEN_TABLE}_update": f"""
        AFTER UPDATE OF name_tokens, id ON {CHARACTER_TABLE} BEGIN
            DELETE FROM {SQLITE_TOKEN_TABLE} WHERE character_id = OLD.id;
            INSERT INTO {SQLITE_TOKEN_TABLE} (token, character_id)
            SELECT value, NEW.id FROM json_each(coalesce(NEW.name_tokens, '[]'));
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
        if have.issuperset(SQLITE_TRIGGERS) and SQLITE_TOKEN_TABLE in tables:
            return
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {SQLITE_TOKEN_TABLE} "
            "(token TEXT NOT NULL, character_id INTEGER NOT NULL)"
        )
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {SQLITE_TOKEN_TABLE}_token "
            f"ON {SQLITE_TOKEN_TABLE} (token, character_id)"
        )
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {SQLITE_TOKEN_TABLE}_character "
            f"ON {SQLITE_TOKEN_TABLE} (character_id)"
        )
        for name, body in SQLITE_TRIGGERS.items():
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(f"CREATE TRIGGER {name} {body}")
        cursor.execute(f"DELETE FROM {SQLITE_TOKEN_TABLE}")
        cursor.execute(
            f"INSERT INTO {SQLITE_TOKEN_TABLE} (token, character_id) "
            f"SELECT tokens.value, c.id FROM {CHARACTER_TABLE} c, json_each(c.name_tokens) tokens "
            "WHERE c.name_tokens IS NOT NULL"
        )


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
