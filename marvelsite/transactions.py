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
        return mongodb_transaction.atomic(using)
    return contextlib.nullcontext()
