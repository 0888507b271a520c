"""marvelsite.db_errors: a database error as one line with its cause, credentials masked."""

import pytest
from django.db import DatabaseError, IntegrityError, OperationalError, connection
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    DuplicateKeyError,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from characters.models import Character
from marvelsite.db_errors import describe, is_transient, is_write_conflict, may_run_again
from marvelsite.redaction import configured_secrets, mask_secrets


@pytest.mark.django_db
def test_a_real_integrity_error_says_what_happened(on_mongodb):
    Character.objects.create(id=7, name="First")
    with pytest.raises(IntegrityError) as caught:
        Character.objects.bulk_create([Character(id=7, name="Second")])
    described = describe(caught.value)
    if on_mongodb:
        # django-mongodb-backend's error has no text of its own: the cause is all there is.
        assert str(caught.value) == ""
        assert described.startswith("IntegrityError; caused by BulkWriteError: ")
        assert "E11000 duplicate key error" in described
    else:
        # Django's SQLite error repeats sqlite3's: said once.
        assert described == "IntegrityError: UNIQUE constraint failed: characters_character.id"
    assert connection.vendor in ("sqlite", "mongodb")


def chained(*errors: BaseException) -> BaseException:
    """errors[0], caused by errors[1], caused by errors[2], ..."""
    for outer, inner in zip(errors, errors[1:], strict=False):
        outer.__cause__ = inner
    return errors[0]


def test_the_whole_chain_in_order():
    error = chained(RuntimeError(""), OSError("no primary"), ValueError("connection reset"))
    assert describe(error) == (
        "RuntimeError; caused by OSError: no primary; caused by ValueError: connection reset"
    )


def raise_in_handler(*, suppress: bool):
    try:
        raise KeyError("inner")
    except KeyError:
        if suppress:
            raise RuntimeError("outer") from None
        raise RuntimeError("outer")  # noqa: B904 - the implicit context is the point


def test_an_implicit_context_counts_unless_suppressed():
    with pytest.raises(RuntimeError) as suppressed:
        raise_in_handler(suppress=True)
    assert describe(suppressed.value) == "RuntimeError: outer"
    with pytest.raises(RuntimeError) as implicit:
        raise_in_handler(suppress=False)
    assert describe(implicit.value) == "RuntimeError: outer; caused by KeyError: 'inner'"


def test_a_cycle_ends():
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__cause__, second.__cause__ = second, first
    assert describe(first) == "RuntimeError: a; caused by RuntimeError: b"


def test_long_descriptions_are_cut_and_whitespace_folded():
    described = describe(RuntimeError("x\n" * 2000), longest=50)
    assert len(described) == 50
    assert described.endswith("…")
    assert "\n" not in described


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "bad mongodb://marvel:s3cret@db-0.db:27017,db-1.db/?replicaSet=rs0",
            "bad mongodb://marvel:***@db-0.db:27017,db-1.db/?replicaSet=rs0",
        ),
        (
            "mongodb+srv://u:p%40ss@cluster.example.net/x",
            "mongodb+srv://u:***@cluster.example.net/x",
        ),
        (
            "GET /characters?apikey=abc123&hash=0f9e&ts=1",
            "GET /characters?apikey=***&hash=***&ts=1",
        ),
        ("{'password': 'hunter2', 'user': 'x'}", "{'password': '***', 'user': 'x'}"),
        ("auth failed (password=hunter2)", "auth failed (password=***)"),
        ("no credentials here: host:27017", "no credentials here: host:27017"),
    ],
)
def test_credentials_are_masked(text, masked):
    assert mask_secrets(text) == masked


def test_the_configured_database_passwords_are_masked_anywhere():
    databases = {
        "default": {"HOST": "mongodb://marvel:Pa%24%24word-1@db:27017/", "PASSWORD": ""},
        "other": {"ENGINE": "x", "PASSWORD": "plain-pw"},
    }
    secrets = configured_secrets(databases)
    assert secrets == {"Pa%24%24word-1", "Pa$$word-1", "plain-pw"}
    text = "login Pa$$word-1 refused; tried plain-pw"
    assert mask_secrets(text, secrets) == "login *** refused; tried ***"


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ServerSelectionTimeoutError("No primary available for writes"), True),
        (NotPrimaryError("not primary", {"code": 10107}), True),
        (AutoReconnect("connection closed"), True),
        (OperationFailure("not writable", code=10107), True),
        (OperationFailure("interrupted", code=11602), True),
        (OperationFailure("stepped down", code=189), True),
        (OperationFailure("write conflict", code=112), True),
        (
            OperationFailure(
                "aborted", code=251, details={"errorLabels": ["TransientTransactionError"]}
            ),
            True,
        ),
        (BulkWriteError({"writeErrors": [{"code": 10107, "errmsg": "not primary"}]}), True),
        (BulkWriteError({"writeErrors": [{"code": 11000, "errmsg": "E11000 duplicate"}]}), False),
        (OperationFailure("bad query", code=2), False),
        (DuplicateKeyError("E11000 duplicate key", code=11000), False),
        (OperationalError("database is locked"), True),
        (OperationalError("no such table: characters_character"), False),
        (ValueError("not a database error"), False),
    ],
)
def test_transient_errors_are_told_from_failures(error, transient):
    # As django-mongodb-backend raises them: an empty DatabaseError, the driver's error its cause.
    wrapped = chained(DatabaseError(), error)
    assert is_transient(error) is transient
    assert is_transient(wrapped) is transient


@pytest.mark.parametrize(
    ("error", "conflict"),
    [
        (OperationFailure("WriteConflict error", code=112), True),
        (OperationFailure("conflict", details={"codeName": "WriteConflict"}), True),
        (BulkWriteError({"writeErrors": [{"code": 112, "errmsg": "WriteConflict"}]}), True),
        (OperationFailure("stepped down", code=189), False),
        (OperationFailure("too large", code=388), False),
        (BulkWriteError({"writeErrors": [{"code": 11000, "errmsg": "E11000 duplicate"}]}), False),
        (ServerSelectionTimeoutError("No primary available for writes"), False),
    ],
)
def test_write_conflicts_are_told_from_other_transient_errors(error, conflict):
    assert is_write_conflict(error) is conflict
    assert is_write_conflict(chained(DatabaseError(), error)) is conflict


@pytest.mark.parametrize(
    ("error", "again"),
    [
        (OperationFailure("WriteConflict error", code=112), True),
        (
            OperationFailure(
                "aborted", code=251, details={"errorLabels": ["TransientTransactionError"]}
            ),
            True,
        ),
        (NotPrimaryError("not primary", {"code": 10107}), True),
        (OperationalError("database is locked"), True),
        # The driver already waited for a primary: no second wait.
        (ServerSelectionTimeoutError("No primary available for writes"), False),
        # The commit may have been applied: a second run could apply it twice.
        (
            OperationFailure(
                "commit",
                code=91,
                details={"errorLabels": ["UnknownTransactionCommitResult"]},
            ),
            False,
        ),
        (AutoReconnect("connection closed"), True),
        (OperationFailure("bad query", code=2), False),
    ],
)
def test_a_transaction_runs_again_only_when_nothing_of_it_may_have_committed(error, again):
    assert may_run_again(error) is again
    assert may_run_again(chained(DatabaseError(), error)) is again


@pytest.mark.django_db
def test_a_real_duplicate_key_is_not_transient():
    Character.objects.create(id=7, name="First")
    with pytest.raises(IntegrityError) as caught:
        Character.objects.bulk_create([Character(id=7, name="Second")])
    assert not is_transient(caught.value)


def test_a_bulk_writes_write_concern_error_is_an_outage_not_a_rejection():
    from pymongo.errors import BulkWriteError

    from marvelsite.db_errors import is_rejected_request

    election = BulkWriteError(
        {
            "writeErrors": [],
            "writeConcernErrors": [{"code": 91, "codeName": "ShutdownInProgress", "errmsg": "x"}],
        }
    )
    duplicate = BulkWriteError({"writeErrors": [{"code": 11000, "errmsg": "dup"}]})
    assert not is_rejected_request(election)
    assert is_rejected_request(duplicate)
