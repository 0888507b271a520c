"""One way to open a transaction on either backend.

Django's `transaction.atomic()` is a no-op on django-mongodb-backend: MongoDB transactions
(replica sets and sharded clusters only) go through `django_mongodb_backend.transaction.atomic`,
which has no savepoints, so a nested block joins the outer one.
"""

import contextlib

from django.db import connections, transaction
from django_mongodb_backend import transaction as mongodb_transaction


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
    finally:
        connection.in_atomic_block = in_django_block
