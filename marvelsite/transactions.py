"""One way to open a transaction on either backend.

Django's `transaction.atomic()` is a no-op on django-mongodb-backend: MongoDB transactions
(replica sets and sharded clusters only) go through `django_mongodb_backend.transaction.atomic`,
which has no savepoints, so a nested block joins the outer one.
"""

import contextlib

from django.db import connections, transaction
from django_mongodb_backend import transaction as mongodb_transaction
from pymongo.errors import PyMongoError


def has_transactions(using: str) -> bool:
    """Whether `atomic(using)` makes writes all-or-nothing (not on a standalone mongod)."""
    connection = connections[using]
    return connection.vendor != "mongodb" or connection.features._supports_transactions


def in_mongodb_transaction(using: str) -> bool:
    """Whether writes on `using` are inside a MongoDB transaction now, where any refused
    write aborts the whole transaction (no savepoints to try again from)."""
    session = getattr(connections[using], "session", None)
    return session is not None and session.in_transaction


def atomic(using: str):
    """All-or-nothing writes on `using`: a MongoDB transaction on a replica set, Django's
    atomic() elsewhere. A standalone mongod has no transactions: writes go unwrapped there."""
    connection = connections[using]
    if connection.vendor != "mongodb":
        return transaction.atomic(using=using)
    if connection.features._supports_transactions:
        return _mongodb_atomic(connection, using)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _mongodb_atomic(connection, using: str):
    """django-mongodb-backend's atomic(), usable inside Django's atomic() too.

    Django's atomic() (the admin wraps every change in one) does nothing on MongoDB but mark
    the connection as in an atomic block, and django-mongodb-backend 5.2.4's commit then runs
    its on-commit hooks through Django's check "forbidden when an 'atomic' block is active":
    the transaction is committed, then TransactionManagementError is raised. That mark means
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
        # A commit that failed with the driver's own error (an election, the network) is not
        # cleaned up by django-mongodb-backend 5.2.4, which only handles its DatabaseError: its
        # session would stay, and the next atomic() would run without a transaction.
        if connection.session is not None:
            with contextlib.suppress(PyMongoError):
                connection.session.end_session()  # aborts the transaction if still open
            connection.session = None
        raise
    finally:
        connection.in_atomic_block = in_django_block


# MongoDB aborts a transaction left open (its client killed) after this long, its documents
# locked until then; the server's transactionLifetimeLimitSeconds, 60 unless changed.
DEFAULT_TRANSACTION_LIFETIME = 60.0


def transaction_lifetime(using: str) -> float:
    """How long an abandoned transaction can hold its documents on `using`: MongoDB's
    transactionLifetimeLimitSeconds (the default when not allowed to read it); 0 on SQLite,
    which rolls a dead process's transaction back when the database is next opened."""
    connection = connections[using]
    if connection.vendor != "mongodb":
        return 0.0
    connection.ensure_connection()
    try:
        answer = connection.connection.admin.command(
            "getParameter", 1, transactionLifetimeLimitSeconds=1
        )
    except PyMongoError:  # e.g. a user without the getParameter privilege
        return DEFAULT_TRANSACTION_LIFETIME
    return float(answer.get("transactionLifetimeLimitSeconds", DEFAULT_TRANSACTION_LIFETIME))
