"""Still needed? One test per workaround the store carries for django-mongodb-backend
(characters.store.UPSTREAM), each on the real replica set.

Each test shows the upstream behaviour that its workaround avoids, so it FAILS once an upgrade
fixes that behaviour: its docstring names what to delete then. An upgrade reads as a deletion
list.
"""

import pytest
from bson import Int64
from django.db import connection, models, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import isolate_apps
from django_mongodb_backend import transaction as mongodb_transaction
from django_mongodb_backend.compiler import SQLCompiler
from django_mongodb_backend.operations import DatabaseOperations
from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from characters import store
from characters.models import Character
from tests.support.query_plans import explain, plans_of

pytestmark = [
    pytest.mark.mongodb("django-mongodb-backend's own behaviour"),
    pytest.mark.django_db(transaction=True),
]


class Stop(Exception):
    pass


@pytest.fixture
def catalogue():
    Character.objects.bulk_create(
        [Character(id=n, name=f"Hero {n:02d}", comics_available=n) for n in range(1, 31)]
    )


def only_plan(action):
    plans = [plan for plan in plans_of(action) if plan.collection == "characters_character"]
    assert len(plans) == 1, plans
    return plans[0]


@pytest.fixture
def probe_collection():
    """A scratch collection in the test database, dropped after the test."""
    collection = connection.database["upstream_probe"]
    yield collection
    collection.drop()


def test_the_primary_keys_unique_index_is_partial_and_an_id_match_cannot_use_it(
    catalogue, probe_collection
):
    """Still needed: store.lookup_index, and the `*_id_lookup` indexes it made (a migration
    then drops them; tests/database/test_query_plans.py checks the plans after)."""
    indexes = connection.get_collection("characters_character").list_indexes()
    unique = [i for i in indexes if i.get("unique") and dict(i["key"]) == {"id": 1}]
    assert len(unique) == 1
    assert "partialFilterExpression" in unique[0], unique[0]
    # The ORM's own primary-key read, on a copy with the backend's unique index only.
    probe_collection.insert_many([{"id": Int64(n)} for n in range(1, 31)])
    probe_collection.create_index(
        [("id", 1)], unique=True, partialFilterExpression=unique[0]["partialFilterExpression"]
    )
    plan = only_plan(lambda: Character.objects.get(pk=7))
    command = {**plan.command, "aggregate": probe_collection.name}
    probed = explain(connection.connection, connection.settings_dict["NAME"], command)
    assert any("COLLSCAN" in scan for scan in probed.scans), plan.command


def test_an_unfiltered_count_scans_the_collection(catalogue):
    """Still needed: MongoStore.count (an unfiltered count as a COUNT_SCAN of the id index)."""
    plan = only_plan(lambda: models.QuerySet.count(Character.objects.all()))
    assert "$facet" in str(plan.command)
    assert any("COLLSCAN" in scan for scan in plan.scans), plan.command
    assert not only_plan(lambda: Character.objects.count()).scans  # the store's


def test_a_sorted_slice_projects_before_it_sorts(catalogue):
    """Still needed: MongoStore.window (the ORM's filter and sort as $match/$sort/$skip/$limit,
    read in the ordering's index)."""
    rows = Character.objects.order_by("sort_name", "id")
    plan = only_plan(lambda: list(rows[5:10]))
    stages = [next(iter(stage)) for stage in plan.command["pipeline"]]
    assert stages.index("$sort") > min(
        stages.index(name) for name in ("$project", "$addFields") if name in stages
    ), stages
    assert plan.scans, plan.command  # every document read, then sorted in memory
    ours = only_plan(lambda: rows.window(5, 10))
    assert not ours.scans
    assert [c.id for c in rows.window(5, 10)] == [c.id for c in rows[5:10]]


def test_every_row_read_through_the_orm_is_turned_by_python(catalogue, monkeypatch):
    """Still needed: MongoStore.pairs (pymongo decodes the rows in C; the ORM compiles an
    `__in` value by value and makes each row in Python). A cost, not a wrong answer: fails
    once the compiler stops making rows one by one (then measure bench.pages without it)."""
    made = []
    make_result = SQLCompiler._make_result
    monkeypatch.setattr(
        SQLCompiler,
        "_make_result",
        lambda self, *args, **kwargs: made.append(1) or make_result(self, *args, **kwargs),
    )
    ids = list(range(1, 31))
    assert len(Character.objects.filter(id__in=ids).values_list("id", "name")) == 30
    assert len(made) == 30
    made.clear()
    assert len(store.for_alias("default").pairs(Character, "id", ids, "id", "name")) == 30
    assert made == []


def test_a_json_value_read_through_the_orm_is_encoded_then_decoded(catalogue, monkeypatch):
    """Still needed: store.mongo.instances (a window's rows made from pymongo's documents, each
    JSON value as pymongo decoded it). UPSTREAM hands every JSON value to json.dumps for
    JSONField.from_db_value to json.loads it back. A cost, not a wrong answer: fails once that
    stops (then measure bench.pages with the backend's RawQuerySet in window() again)."""
    encoded = []
    encode = DatabaseOperations.convert_jsonfield_value
    monkeypatch.setattr(
        DatabaseOperations,
        "convert_jsonfield_value",
        lambda self, *args: encoded.append(1) or encode(self, *args),
    )
    json_fields = [f for f in Character._meta.concrete_fields if isinstance(f, models.JSONField)]
    assert len(list(Character.objects.order_by("id")[:5])) == 5
    assert len(encoded) == 5 * len(json_fields)
    encoded.clear()
    assert len(Character.objects.order_by("sort_name", "id").window(0, 5)) == 5
    assert encoded == []


@isolate_apps("characters")
def test_a_new_fields_empty_object_default_is_refused():
    """Still needed: LocalIdModel.local_edits's None default (not {}): the backend adds a new
    field to existing documents with a pipeline $set, which refuses an empty object."""

    class Probe(models.Model):  # noqa: DJ008
        id = models.PositiveBigIntegerField(primary_key=True)

        class Meta:
            app_label = "characters"
            db_table = "upstream_probe"

    with connection.schema_editor() as editor:
        editor.create_model(Probe)
    try:
        Probe.objects.create(id=1)
        edits = models.JSONField(default=dict)
        edits.set_attributes_from_name("edits")
        refused = pytest.raises(OperationFailure, match="empty object")
        with refused, connection.schema_editor() as editor:
            editor.add_field(Probe, edits)
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(Probe)


def test_djangos_atomic_does_not_roll_back():
    """Still needed: MongoStore.atomic's use of the backend's own atomic() (and every
    marvelsite.transactions.atomic caller's reason not to use Django's)."""
    with pytest.raises(Stop), transaction.atomic():  # noqa: PT012
        Character.objects.create(id=1, name="Kept anyway")
        raise Stop
    assert Character.objects.filter(id=1).exists()


def test_inside_djangos_atomic_a_commit_raises_after_committing():
    """Still needed: mongo._atomic's lifting of Django's in_atomic_block while the block
    ends (the admin wraps every change in Django's atomic())."""
    with transaction.atomic():
        refused = pytest.raises(TransactionManagementError)
        with refused, mongodb_transaction.atomic("default"):
            Character.objects.create(id=1, name="Committed")
    assert Character.objects.filter(id=1).exists()  # committed all the same


def end_transaction_from_another_client(client) -> None:
    """Another client kills this connection's session: its commit then fails in the driver."""
    client.admin.command("killSessions", [connection.session.session_id])


def test_a_commit_failing_with_a_driver_error_leaves_its_session(settings):
    """Still needed: mongo._exit's clean-up of the session after a PyMongoError on commit
    (the backend handles only its own DatabaseError there)."""
    client = MongoClient(settings.DATABASES["default"]["HOST"])
    try:
        with pytest.raises(PyMongoError), mongodb_transaction.atomic("default"):  # noqa: PT012
            Character.objects.create(id=1, name="Never committed")
            end_transaction_from_another_client(client)
        left = connection.session
        assert left is not None  # the next atomic() would run without a transaction
        left.end_session()
        connection.session = None
        with pytest.raises(PyMongoError), store.for_alias("default").atomic():  # noqa: PT012
            Character.objects.create(id=2, name="Never committed either")
            end_transaction_from_another_client(client)
        assert connection.session is None  # the store's: cleaned up
    finally:
        client.close()
    assert not Character.objects.filter(id__in=[1, 2]).exists()
