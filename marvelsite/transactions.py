"""One way to open a transaction on either backend (the store does it: characters/store/).

Django's `transaction.atomic()` is a no-op on django-mongodb-backend: MongoDB transactions
(replica sets and sharded clusters only) have no savepoints, so a nested block joins the outer
one.
"""

from characters import store


def has_transactions(using: str) -> bool:
    """Whether `atomic(using)` makes writes all-or-nothing (not on a standalone mongod)."""
    return store.for_alias(using).has_transactions()


def atomic(using: str):
    """All-or-nothing writes on `using`: a MongoDB transaction on a replica set, Django's
    atomic() elsewhere. A standalone mongod has no transactions: writes go unwrapped there."""
    return store.for_alias(using).atomic()


def transaction_lifetime(using: str) -> float:
    """How long an abandoned transaction can hold its documents on `using`: MongoDB's
    transactionLifetimeLimitSeconds; 0 on SQLite, which rolls a dead process's transaction
    back when the database is next opened."""
    return store.for_alias(using).transaction_lifetime()
