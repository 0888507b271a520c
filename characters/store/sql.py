"""The store on SQLite: the ORM as it is, plus what SQLite alone offers (PRAGMA data_version,
the search tokens' side table)."""

# ruff: noqa: S608 (SQL made of the models' own names and the constant table names, never input)

from django.core.exceptions import EmptyResultSet
from django.db import models, transaction
from django.db.migrations.recorder import MigrationRecorder

from characters.search_index import CHARACTER_TABLE, SQLITE_TOKEN_TABLE
from characters.store.base import Store

SQLITE_TOKEN_COLUMNS = {"token", "sort_name", "character_id"}
# The token table, kept by triggers from the JSON array: chosen over FTS5, as the tokens are
# made here (folded, word prefixes) and FTS5's tokenizer would add a second notion of a word.
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


class SQLStore(Store):
    def pairs(self, model, field, values, key, value):
        values = list(values)
        if not values:
            return []
        rows = model._default_manager.using(self.alias).filter(**{f"{field}__in": values})
        return list(rows.values_list(key, value))

    def count(self, rows):
        return models.QuerySet.count(rows)

    def window(self, rows, start, stop):
        return list(rows[start:stop])

    def version_token(self, model):
        connection = self.connection
        meta, quote = model._meta, connection.ops.quote_name
        table, pk, token = meta.db_table, meta.pk.column, meta.get_field("token").column
        sql = f"SELECT {quote(token)} FROM {quote(table)} WHERE {quote(pk)} = %s"
        with connection.cursor() as cursor:
            cursor.execute(sql, [1])
            row = cursor.fetchone()
        return row[0] if row else ""

    def changes_seen(self):
        # data_version changes with other connections' commits, total_changes with this one's.
        connection = self.connection
        connection.ensure_connection()
        raw = connection.connection
        (data_version,) = raw.execute("PRAGMA data_version").fetchone()
        return raw, data_version, raw.total_changes

    def applied_migrations(self):
        return set(MigrationRecorder(self.connection).applied_migrations())

    def has_transactions(self):
        return True

    def atomic(self):
        return transaction.atomic(using=self.alias)

    def savepoint(self):
        return transaction.atomic(using=self.alias)

    def in_transaction(self):
        return self.connection.in_atomic_block

    def aborts_on_refusal(self):
        return False  # savepoints

    def transaction_lifetime(self):
        return 0.0  # a dead process's transaction is rolled back when the file is next opened

    def ensure_token_index(self):
        """On SQLite a migration that rebuilds the characters table drops its triggers: then
        they are made again and the side table refilled from the JSON arrays."""
        connection = self.connection
        introspection = connection.introspection
        tables = introspection.table_names()
        if CHARACTER_TABLE not in tables:
            return
        with connection.cursor() as cursor:
            columns = introspection.get_table_description(cursor, CHARACTER_TABLE)
            if "name_tokens" not in {column.name for column in columns}:
                return  # migrated back before the tokens: drop_token_index() dropped them
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
                [CHARACTER_TABLE],
            )
            have = {row[0] for row in cursor.fetchall()}
            token_columns = set()
            if SQLITE_TOKEN_TABLE in tables:
                description = introspection.get_table_description(cursor, SQLITE_TOKEN_TABLE)
                token_columns = {column.name for column in description}
            if have.issuperset(SQLITE_TRIGGERS) and token_columns == SQLITE_TOKEN_COLUMNS:
                return
            self._drop_token_index(cursor)
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
                f"CREATE INDEX {SQLITE_TOKEN_TABLE}_character "
                f"ON {SQLITE_TOKEN_TABLE} (character_id)"
            )
            for name, body in SQLITE_TRIGGERS.items():
                cursor.execute(f"CREATE TRIGGER {name} {body}")
            cursor.execute(
                f"INSERT INTO {SQLITE_TOKEN_TABLE} (token, sort_name, character_id) "
                f"SELECT tokens.value, c.sort_name, c.id "
                f"FROM {CHARACTER_TABLE} c, json_each(c.name_tokens) tokens "
                "WHERE c.name_tokens IS NOT NULL"
            )

    def drop_token_index(self):
        """SQLite refuses to drop a column a trigger names."""
        with self.connection.cursor() as cursor:
            self._drop_token_index(cursor)

    @staticmethod
    def _drop_token_index(cursor) -> None:
        for name in SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        cursor.execute(f"DROP TABLE IF EXISTS {SQLITE_TOKEN_TABLE}")

    def token_window(self, rows, token, start, stop):
        """Read from the token table's (token, sort key) index, the rest of the filter applied
        to each row: the page stops after its rows, where filtering on the token's ids first
        fetched and sorted every match."""
        if stop <= start:
            return self.window(rows, start, stop)
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
