"""The store on MongoDB: pymongo where the backend's query building costs more than the query,
its public API elsewhere, and the workarounds for UPSTREAM's bugs (characters/store/__init__.py),
each marked "Workaround" and checked by tests/database/test_upstream_workarounds.py."""

import contextlib
import functools

from bson import Timestamp
from django.core.exceptions import EmptyResultSet, FieldDoesNotExist, FullResultSet
from django.db import DatabaseError, models
from django.db.migrations.recorder import MigrationRecorder
from django_mongodb_backend import transaction as mongodb_transaction
from django_mongodb_backend.query import wrap_database_errors
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern

from characters.search_index import CHARACTER_TABLE, MONGO_TOKEN_INDEX
from characters.store.base import Store
from marvelsite.db_errors import chain

# The cluster time a read or a change is as of (ordered).
ClusterTime = Timestamp
# MongoDB aborts a transaction left open (its client killed) after this long, its documents
# locked until then; the server's transactionLifetimeLimitSeconds, 60 unless changed.
DEFAULT_TRANSACTION_LIFETIME = 60.0


# A result document past 16 MB: BSONObjectTooLarge, and a $lookup's array ("Total size of
# documents ... exceeds maximum document size").
TOO_LARGE_CODES = {10334, 4568}
# The field a union's rows carry their part's place in (MongoStore.windows).
PLACE = "__part"
ONE_BATCH = 100_000  # documents; the server still caps a batch at 16 MB


@wrap_database_errors  # pymongo's errors as the backend's own queries raise them
def aggregate(connection, model, pipeline: list[dict]) -> list[dict]:
    """`pipeline`'s rows from `model`'s collection, decoded by pymongo alone. Through the
    connection's own collection (so the query is logged and counted like the ORM's) and
    session (a transaction's)."""
    collection = connection.get_collection(model._meta.db_table)
    # In one batch: these reads take every row they match, and the server's first batch
    # (101 documents unless asked) would only add a getMore round trip.
    rows = collection.aggregate(pipeline, session=connection.session, batchSize=ONE_BATCH)
    return list(rows)


def instances(connection, model, documents: list[dict]) -> list:
    """`model`'s instances made from pymongo's documents.

    Workaround: UPSTREAM's raw rows (and the ORM's) hand each JSON value to json.dumps for
    Django's JSONField to json.loads it back, and match every row's keys to fields anew. Here
    a JSON value is taken as pymongo decoded it and every other field goes through the same
    converters as the ORM's."""
    columns, names, converting = _instance_plan(model, connection)
    found = []
    for document in documents:
        values = [document.get(column) for column in columns]
        for position, column, converters in converting:
            value = values[position]
            for converter in converters:
                value = converter(value, column, connection)
            values[position] = value
        found.append(model.from_db(connection.alias, names, values))
    return found


@functools.lru_cache(maxsize=64)  # a few models per thread's connection
def _instance_plan(model, connection) -> tuple[list, list, list]:
    """(columns, attribute names, (position, column, converters) of the fields to convert) of
    `model`'s instances: what instances() would otherwise work out again for every read."""
    fields = model._meta.concrete_fields
    converting = []
    for position, field in enumerate(fields):
        if isinstance(field, models.JSONField) and _json_as_decoded(field):
            continue
        column = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        if converters:
            converting.append((position, column, converters))
    return [field.column for field in fields], [field.attname for field in fields], converting


class _ReadTwice(Exception):
    """A read in one command that the contract's separate reads must make instead."""


def _too_large(error: BaseException) -> bool:
    """Whether the server refused a result for passing the 16 MB a document may hold."""
    return any(
        isinstance(link, OperationFailure) and link.code in TOO_LARGE_CODES for link in chain(error)
    )


def _documents_as_stored(query) -> bool:
    """Whether the query's rows are its collection's documents as stored: no join, annotation
    or extra select, so instances() can make them."""
    return not (query.select_related or query.annotations or query.extra)


def match_and_sort(rows) -> tuple[dict, dict] | None:
    """The $match and $sort of `rows` (documents as stored), or None where reading them needs
    other stages (a join, a subquery such as Exists, a sort on a computed field). Where every
    term of the ordering names a plain field, only the filter is compiled, not the select list
    and ordering the compiler would set up first. Raises EmptyResultSet for rows that match
    nothing."""
    query = rows.query
    if any(count for alias, count in query.alias_refcount.items() if alias != query.base_table):
        return None  # a join
    compiler = query.get_compiler(using=rows.db)
    sort = _plain_sort(query)
    if sort is None:
        compiler.pre_sql_setup()
        mql = compiler.build_query()
        match, sort = mql.match_mql, mql.ordering
        if mql.lookup_pipeline or mql.extra_fields:
            return None
    else:
        try:
            match = query.where.as_mql(compiler, compiler.connection) if query.where else {}
        except FullResultSet:
            match = {}
    if compiler.subqueries:
        return None  # their $lookup stages would come before the $match
    return match, sort


def _window_stages(rows, start: int, stop: int) -> list[dict] | None:
    """`rows[start:stop]` (stop > start) as $match/$sort/$skip/$limit stages, or None where
    the ORM must read them (match_and_sort). Raises EmptyResultSet for rows that match
    nothing."""
    if not _documents_as_stored(rows.query):
        return None
    compiled = match_and_sort(rows)
    return None if compiled is None else _stages(*compiled, start, stop)


def _stages(match: dict, sort: dict, start: int, stop: int) -> list[dict]:
    """Rows start to stop (stop > start) of those `match` gives in `sort`'s order."""
    stages = [{"$match": match}] if match else []
    if sort:
        stages.append({"$sort": sort})
    if start:
        stages.append({"$skip": start})
    stages.append({"$limit": stop - start})
    return stages


def _plain_sort(query) -> dict | None:
    """{column: 1 or -1} of the query's ordering (order_by, else the model's, reversed if the
    queryset is), or None unless every term names a concrete field of its own model."""
    if query.extra_order_by:
        return None
    meta = query.get_meta()
    terms = query.order_by or (meta.ordering if query.default_ordering else ())
    sort = {}
    for term in terms:
        if not isinstance(term, str):
            return None
        name = term.removeprefix("-")
        if "__" in name or "." in name or name == "?":
            return None
        try:
            field = meta.pk if name == "pk" else meta.get_field(name)
        except FieldDoesNotExist:
            return None
        if field.is_relation or not field.concrete or field.model is not meta.model:
            return None  # a relation sorts by its model's ordering; a parent's field joins
        ascending = (term == name) == query.standard_ordering
        sort.setdefault(field.column, 1 if ascending else -1)
    return sort


def _by_pk_pipeline(rows, pk) -> list[dict] | None:
    """The fixed pipeline of `rows`' row with this key, or None where the ORM must read it:
    rows with a filter of their own, a slice, a join or annotations."""
    query = rows.query
    if query.where or query.is_sliced or query.combinator or query.is_empty():
        return None
    if not _documents_as_stored(query):
        return None
    key = rows.model._meta.pk
    return [{"$match": {key.column: key.to_python(pk)}}, {"$limit": 1}]


def _json_as_decoded(field) -> bool:
    """Whether Django would give a JSON value back as pymongo decoded it: Django's own
    from_db_value and no custom decoder."""
    return field.decoder is None and (type(field).from_db_value is models.JSONField.from_db_value)


class MongoStore(Store):
    def pairs(self, model, field, values, key, value):
        """Workaround: read with pymongo, as UPSTREAM compiles an `__in` filter value by value
        and turns every row through its compiler's converters (most of a list page's card
        comics, a few hundred rows), where pymongo decodes the same rows in C."""
        values = list(values)
        if not values:
            return []  # as the ORM: no query
        column, key, value = (model._meta.get_field(name).column for name in (field, key, value))
        match = {"$match": {column: {"$in": values}}}
        pipeline = [match, {"$project": {"_id": 0, key: 1, value: 1}}]
        rows = aggregate(self.connection, model, pipeline)
        return [(row.get(key), row.get(value)) for row in rows]

    def pairs_through(self, links, field, values, other, model, value):
        """One command where pairs() would take two: the links are gathered into one
        document, whose array of keys a single $lookup reads through the key's index (a
        $lookup per link would run a query per link). A result past the 16 MB a document
        may hold is read as pairs() twice instead."""
        own = links._meta.get_field(field)
        values = [own.get_prep_value(one) for one in values]
        if not values:
            return []
        column, other_column = own.column, links._meta.get_field(other).column
        key, value_column = model._meta.pk.column, model._meta.get_field(value).column
        pipeline = [
            {"$match": {column: {"$in": values}}},
            {
                "$group": {
                    "_id": None,
                    "links": {"$push": {"own": f"${column}", "key": f"${other_column}"}},
                }
            },
            {
                "$lookup": {
                    "from": model._meta.db_table,
                    "localField": "links.key",
                    "foreignField": key,
                    "pipeline": [{"$project": {"_id": 0, key: 1, value_column: 1}}],
                    "as": "rows",
                }
            },
        ]
        try:
            gathered = aggregate(self.connection, links, pipeline)
        except DatabaseError as error:
            if not self._read_twice_instead(error):
                raise
            return super().pairs_through(links, field, values, other, model, value)
        if not gathered:
            return []
        values_of = {row[key]: row.get(value_column) for row in gathered[0]["rows"]}
        return [
            (link.get("own"), link["key"], values_of[link["key"]])
            for link in gathered[0]["links"]
            if link.get("key") in values_of
        ]

    def by_pk_through(self, rows, pk, links, field, other, model, value):
        """One command where the contract takes two: by_pk()'s fixed pipeline, then a
        $lookup of the row's links and a $lookup of what they point at (each runs once, for
        the one row, through an index). Where by_pk() would use the ORM, or the result would
        pass 16 MB, the contract's reads."""
        key, value_column = model._meta.pk.column, model._meta.get_field(value).column
        try:
            found = self._by_pk_with_links(
                rows, pk, links, field, other, model, {"_id": 0, key: 1, value_column: 1}
            )
        except _ReadTwice:
            return super().by_pk_through(rows, pk, links, field, other, model, value)
        if found is None:
            return None, []
        row, keys, documents = found
        values_of = {document[key]: document.get(value_column) for document in documents}
        return row, [(linked, values_of[linked]) for linked in keys if linked in values_of]

    def by_pk_linked_rows(self, rows, pk, links, field, other, model):
        """One command where the contract takes two, as by_pk_through(), the linked rows'
        whole documents made into instances."""
        try:
            found = self._by_pk_with_links(rows, pk, links, field, other, model, None)
        except _ReadTwice:
            return super().by_pk_linked_rows(rows, pk, links, field, other, model)
        if found is None:
            return None, []
        row, _, documents = found
        return row, instances(self.connection, model, documents)

    def _by_pk_with_links(self, rows, pk, links, field, other, model, projection):
        """(the row, its links' `other` values, the `model` documents they point at, as
        `projection` shows them) in one command, or None without the row. Raises _ReadTwice
        where by_pk() would use the ORM or the result would pass 16 MB."""
        pipeline = _by_pk_pipeline(rows, pk)
        if pipeline is None:
            raise _ReadTwice
        own_key = rows.model._meta.pk
        other_column = links._meta.get_field(other).column
        linked = {
            "from": model._meta.db_table,
            "localField": f"__links.{other_column}",
            "foreignField": model._meta.pk.column,
            "as": "__rows",
        }
        if projection:
            linked["pipeline"] = [{"$project": projection}]
        pipeline += [
            {
                "$lookup": {
                    "from": links._meta.db_table,
                    "localField": own_key.column,
                    "foreignField": links._meta.get_field(field).column,
                    "pipeline": [{"$project": {"_id": 0, other_column: 1}}],
                    "as": "__links",
                }
            },
            {"$lookup": linked},
        ]
        try:
            documents = aggregate(self.connection, rows.model, pipeline)
        except DatabaseError as error:
            if not self._read_twice_instead(error):
                raise
            raise _ReadTwice from error
        if not documents:
            return None
        document = documents[0]
        keys = [link.get(other_column) for link in document["__links"]]
        return instances(self.connection, rows.model, [document])[0], keys, document["__rows"]

    def _read_twice_instead(self, error) -> bool:
        """Whether a read through the links that passed 16 MB can be made as the contract's
        reads: not inside a transaction, which the refusal has aborted."""
        return _too_large(error) and not self.aborts_on_refusal()

    def linked_rows(self, links, field, value, other, model):
        """One command where the contract takes two: the links' keys gathered into one
        document and read through the key's index by a single $lookup, whose rows $unwind
        hands on one by one (the server joins the two stages: no 16 MB array)."""
        column = links._meta.get_field(field).column
        other_column = links._meta.get_field(other).column
        pipeline = [
            {"$match": {column: links._meta.get_field(field).get_prep_value(value)}},
            {"$group": {"_id": None, "keys": {"$addToSet": f"${other_column}"}}},
            {
                "$lookup": {
                    "from": model._meta.db_table,
                    "localField": "keys",
                    "foreignField": model._meta.pk.column,
                    "as": "row",
                }
            },
            {"$unwind": "$row"},
            {"$replaceWith": "$row"},
        ]
        connection = self.connection
        return instances(connection, model, aggregate(connection, links, pipeline))

    def sample(self, after, before, size, count):
        """One command where the contract may take two, and `count` documents sent, not
        `size`: the two windows one after the other ($unionWith, whose rows are read only when
        the first window falls short), then the server's own $sample of them."""
        try:
            first, then = (
                None if rows.query.is_empty() else _window_stages(rows, 0, size)
                for rows in (after, before)
            )
        except EmptyResultSet:
            first = None
        if first is None or then is None or after.model is not before.model:
            return super().sample(after, before, size, count)
        pipeline = [
            *first,
            {"$unionWith": {"coll": after.model._meta.db_table, "pipeline": then}},
            {"$limit": size},
            {"$sample": {"size": count}},
        ]
        connection = self.connection
        return instances(connection, after.model, aggregate(connection, after.model, pipeline))

    def count(self, rows):
        """Workaround: UPSTREAM counts with $facet, which no index serves. Unfiltered, this
        is a COUNT_SCAN of the id index instead (every id is >= 0): keys, never documents.
        (Not $collStats: its count includes an open transaction's inserts, e.g. an import's
        page in flight or one killed mid-page until the server aborts it.)"""
        query = rows.query
        unfiltered = not (query.where or query.is_sliced or query.combinator or query.distinct)
        if unfiltered and rows._result_cache is None:
            rows = rows.filter(id__gte=0)
        return models.QuerySet.count(rows)

    def window(self, rows, start, stop):
        """Workaround: UPSTREAM puts a $project/$addFields stage before $sort, so the server
        sorts every matching document in memory. Here the ORM's own filter and sort go into a
        $match/$sort/$skip/$limit pipeline, which walks the index that matches the ordering
        and fetches only the rows returned. Querysets with joins, subqueries or annotations
        are sliced as usual."""
        if rows.query.is_empty() or stop <= start:  # MongoDB refuses {$limit: 0}
            return []
        try:
            pipeline = _window_stages(rows, start, stop)
        except EmptyResultSet:
            return []
        if pipeline is None:
            return list(rows[start:stop])
        return instances(
            self.connection, rows.model, aggregate(self.connection, rows.model, pipeline)
        )

    def windows(self, parts):
        """One command where the contract takes one per part: each part's window, read as its
        own window() reads it (from the end where that is nearer: oriented()), tagged with the
        part's place, after the first through $unionWith, then sorted by place and the shared
        ordering (the server promises no order of a union's rows). Parts of several models or
        orderings, or whose rows need the ORM, are read one by one."""
        model = parts[0][0].model if parts else None
        if len(parts) < 2 or not all(
            # Without a total order the final $sort could order ties unlike a part's own read.
            part.model is model and part.ends_with_pk() and _documents_as_stored(part.query)
            for part, *_ in parts
        ):
            return super().windows(parts)
        branches, ordering = [], None
        for place, (part, start, stop, size) in enumerate(parts):
            rows, start, stop, reversed_ = part.oriented(start, stop, size)
            if rows.query.is_empty() or stop <= start:
                continue
            try:
                compiled = match_and_sort(rows)  # documents as stored: checked above
            except EmptyResultSet:
                continue
            if compiled is None:
                return super().windows(parts)
            match, sort = compiled
            forward = [(column, -way if reversed_ else way) for column, way in sort.items()]
            if not forward or ordering not in (None, forward):
                return super().windows(parts)
            ordering = forward
            branches.append(_stages(match, sort, start, stop) + [{"$addFields": {PLACE: place}}])
        found = [[] for _ in parts]
        if not branches:
            return found
        pipeline = branches[0] + [
            {"$unionWith": {"coll": model._meta.db_table, "pipeline": branch}}
            for branch in branches[1:]
        ]
        pipeline.append({"$sort": {PLACE: 1, **dict(ordering)}})
        connection = self.connection
        documents = aggregate(connection, model, pipeline)
        for document, row in zip(documents, instances(connection, model, documents), strict=True):
            found[document[PLACE]].append(row)
        return found

    def by_pk(self, rows, pk):
        """Workaround: UPSTREAM compiles a primary-key lookup as any query, and makes its row
        through the backend's converters: for `rows` without a filter of their own, a fixed
        pipeline and instances() instead (a detail page's one read)."""
        pipeline = _by_pk_pipeline(rows, pk)
        if pipeline is None:
            return super().by_pk(rows, pk)
        found = instances(
            self.connection, rows.model, aggregate(self.connection, rows.model, pipeline)
        )
        return found[0] if found else None

    # --- the catalogue version (characters/catalogue_version.py) ---------------------------
    @staticmethod
    def _version_pipeline(model) -> list[dict]:
        meta = model._meta
        token = meta.get_field("token").column
        return [{"$match": {meta.pk.column: 1}}, {"$limit": 1}, {"$project": {"_id": 0, token: 1}}]

    def version_token(self, model):
        rows = aggregate(self.connection, model, self._version_pipeline(model))
        return rows[0].get(model._meta.get_field("token").column, "") if rows else ""

    def version_token_as_of(self, model) -> tuple[str, ClusterTime | None]:
        """(version_token, the cluster time it is as of), read with majority read concern in a
        session of its own, logged and counted as the ORM's queries are."""
        return _read_majority(self.connection, model, self._version_pipeline(model))

    def changes_seen(self):
        return None

    def has_change_streams(self):
        return self.has_transactions()  # a replica set (or a sharded cluster)

    def watch(self, pipeline: list[dict], *, start_after, max_await_time_ms: int):
        """A change stream on the whole database (the backend's client: one per process)."""
        return self.connection.database.watch(
            pipeline, start_after=start_after, max_await_time_ms=max_await_time_ms
        )

    def applied_migrations(self):
        # Not the recorder's applied_migrations(): its table check lists collections, which
        # MongoDB answers from the primary only. A find follows the alias's read preference
        # (and finds nothing where the collection is missing).
        recorder = MigrationRecorder(self.connection)
        return set(recorder.migration_qs.values_list("app", "name"))

    # --- transactions -----------------------------------------------------------------------
    def has_transactions(self):
        return self.connection.features._supports_transactions

    def atomic(self):
        """The backend's atomic() (Django's own is a no-op here: no savepoints, so a nested
        block joins the outer one); a standalone mongod has none, writes go unwrapped there."""
        if self.has_transactions():
            return _atomic(self.connection, self.alias)
        return contextlib.nullcontext()

    def savepoint(self):
        return contextlib.nullcontext()

    def in_transaction(self):
        return self.connection.session is not None

    def aborts_on_refusal(self):
        session = getattr(self.connection, "session", None)
        return session is not None and session.in_transaction

    def transaction_lifetime(self):
        """The server's transactionLifetimeLimitSeconds (the default when not allowed to read
        it)."""
        connection = self.connection
        connection.ensure_connection()
        try:
            answer = connection.connection.admin.command(
                "getParameter", 1, transactionLifetimeLimitSeconds=1
            )
        except PyMongoError:  # e.g. a user without the getParameter privilege
            return DEFAULT_TRANSACTION_LIFETIME
        return float(answer.get("transactionLifetimeLimitSeconds", DEFAULT_TRANSACTION_LIFETIME))

    # --- the search tokens' index -----------------------------------------------------------
    def ensure_token_index(self):
        """The array field itself under a multikey index {name_tokens, sort_name, id}: a
        token's matches come out in name order, read from the index with tight bounds."""
        connection = self.connection
        if CHARACTER_TABLE not in connection.introspection.table_names():
            return
        keys = [("name_tokens", 1), ("sort_name", 1), ("id", 1)]
        connection.get_collection(CHARACTER_TABLE).create_index(keys, name=MONGO_TOKEN_INDEX)


@wrap_database_errors  # a failed read raises as the backend's queries do (the breaker sees it)
def _read_majority(connection, model, pipeline) -> tuple[str, ClusterTime | None]:
    token = model._meta.get_field("token").column
    collection = connection.get_collection(
        model._meta.db_table, read_concern=ReadConcern("majority")
    )
    with connection.connection.start_session(causal_consistency=True) as session:
        rows = list(collection.aggregate(pipeline, session=session))
        as_of = session.operation_time
    return (rows[0].get(token, "") if rows else ""), as_of


@contextlib.contextmanager
def _atomic(connection, using: str):
    """The backend's atomic(), usable inside Django's atomic() too.

    Workaround: Django's atomic() (the admin wraps every change in one) does nothing on
    MongoDB but mark the connection as in an atomic block, and UPSTREAM's commit then runs its
    on-commit hooks through Django's check "forbidden when an 'atomic' block is active": the
    transaction is committed, then TransactionManagementError is raised. That mark means
    nothing to a MongoDB transaction, so it is lifted while this block ends.
    """
    block = mongodb_transaction.atomic(using)
    block.__enter__()
    try:
        yield
    except BaseException as error:
        _exit(connection, block, type(error), error, error.__traceback__)
        raise
    else:
        _exit(connection, block, None, None, None)


def _exit(connection, block, *exc_info) -> None:
    in_django_block = connection.in_atomic_block
    connection.in_atomic_block = False
    try:
        block.__exit__(*exc_info)
    except PyMongoError:
        # Workaround: a commit that failed with the driver's own error (an election, the
        # network) is not cleaned up by UPSTREAM, which only handles its DatabaseError: its
        # session would stay, and the next atomic() would run without a transaction.
        if connection.session is not None:
            with contextlib.suppress(PyMongoError):
                connection.session.end_session()  # aborts the transaction if still open
            connection.session = None
        raise
    finally:
        connection.in_atomic_block = in_django_block
