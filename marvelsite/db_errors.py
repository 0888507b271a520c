"""Database errors as one line that says what happened, with credentials masked.

django-mongodb-backend raises DatabaseError and IntegrityError with empty text and chains the
pymongo error that says what happened as `__cause__` (Django's own backends repeat the driver's
text); printing just the outer error gives "DatabaseError: ". `describe()` follows the chain.
Every place that prints or logs a database error uses it: seed_marvel, wait_for_database,
/readyz and the 503 middleware. `is_transient()` reads the same chain to tell an election or a
network error (worth another try) from a real failure; `is_selection_timeout()` a database no
member of which answered; `is_rejected_request()` a request the server answered with a refusal
(bad input: a bug to see, not an outage); `is_write_conflict()` a transaction that met another
writer's (or, under cache pressure, the storage engine's) rollback; `may_run_again()` a
transaction worth running again from its start (the admin's saves).
"""

from collections.abc import Iterator

from django.db import DatabaseError, InterfaceError

from characters.store.errors import (
    BulkWriteError,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)
from marvelsite.redaction import mask_secrets

LONGEST = 1000  # characters; pymongo's topology descriptions run to several kB
# What "the database is down" raises: Django's errors, and the MongoDB driver's, which
# django-mongodb-backend lets through unwrapped.
DATABASE_ERRORS = (DatabaseError, InterfaceError, PyMongoError)


def chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, then what caused it: its `__cause__`, or its unsuppressed `__context__`, ..."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )


def describe(error: BaseException, *, longest: int = LONGEST) -> str:
    """`error` and what caused it, e.g. "DatabaseError; caused by AutoReconnect: connection
    closed": each link of the chain as "Type: text", a link that repeats the previous one left
    out, credentials masked, at most `longest` characters."""
    links: list[str] = []
    for current in chain(error):
        text = " ".join(str(current).split())
        link = f"{type(current).__name__}: {text}" if text else type(current).__name__
        if not links or link != links[-1]:
            links.append(link)
    described = mask_secrets("; caused by ".join(links))
    return described if len(described) <= longest else described[: longest - 1] + "…"


WRITE_CONFLICT = 112

# MongoDB server errors that a later try may not meet: elections and shutdowns (no primary,
# not writable, stepped down, interrupted), the network, and write conflicts in transactions.
TRANSIENT_CODES = {
    6,  # HostUnreachable
    7,  # HostNotFound
    89,  # NetworkTimeout
    91,  # ShutdownInProgress
    WRITE_CONFLICT,  # 112
    189,  # PrimarySteppedDown
    251,  # NoSuchTransaction (aborted under us, e.g. by an election)
    262,  # ExceededTimeLimit
    9001,  # SocketException
    10107,  # NotWritablePrimary
    11600,  # InterruptedAtShutdown
    11602,  # InterruptedDueToReplStateChange
    13435,  # NotPrimaryNoSecondaryOk
    13436,  # NotPrimaryOrSecondary
}
TRANSIENT_LABELS = ("TransientTransactionError", "UnknownTransactionCommitResult")


def is_transient(error: BaseException) -> bool:
    """Whether the same work may succeed if tried again shortly: no primary or not writable
    (an election), a network error, a transaction to run again (MongoDB), or another writer
    holding the database (SQLite's "database is locked")."""
    for link in chain(error):
        if isinstance(link, ConnectionFailure):  # AutoReconnect, NotPrimaryError, timeouts
            return True
        if isinstance(link, PyMongoError) and any(map(link.has_error_label, TRANSIENT_LABELS)):
            return True
        if isinstance(link, OperationFailure) and link.code in TRANSIENT_CODES:
            return True
        if isinstance(link, BulkWriteError):
            details = link.details or {}
            errors = details.get("writeErrors", []) + details.get("writeConcernErrors", [])
            if any(item.get("code") in TRANSIENT_CODES for item in errors):
                return True
        if type(link).__name__ == "OperationalError" and "database is locked" in str(link):
            return True
    return False


def may_run_again(error: BaseException) -> bool:
    """Whether a transaction that failed with `error` is worth running again from its start:
    transient, nothing of it committed, and not a wait for a primary that already ran its
    course (a selection timeout). A commit whose outcome is unknown may have been applied."""
    if not is_transient(error) or is_selection_timeout(error):
        return False
    return not any(
        isinstance(link, PyMongoError) and link.has_error_label("UnknownTransactionCommitResult")
        for link in chain(error)
    )


def is_write_conflict(error: BaseException) -> bool:
    """Whether a MongoDB transaction was rolled back by a write conflict: another transaction
    wrote the same document or index key, or the storage engine ran short of cache for it."""
    for link in chain(error):
        if isinstance(link, OperationFailure) and (
            link.code == WRITE_CONFLICT or (link.details or {}).get("codeName") == "WriteConflict"
        ):
            return True
        if isinstance(link, BulkWriteError):
            errors = (link.details or {}).get("writeErrors", [])
            if any(item.get("code") == WRITE_CONFLICT for item in errors):
                return True
    return False


def is_selection_timeout(error: BaseException) -> bool:
    """Whether no member could be reached within serverSelectionTimeoutMS: the driver has
    already waited for every eligible member, so trying again at once would only wait again."""
    return any(isinstance(link, ServerSelectionTimeoutError) for link in chain(error))


# Server refusals that say the server or its access is unwell, not the request: credentials,
# an operation that ran out of time.
UNWELL_CODES = {13, 18, 50}  # Unauthorized, AuthenticationFailed, MaxTimeMSExpired


def is_rejected_request(error: BaseException) -> bool:
    """Whether the server answered and refused this request (a bad value, a document too large,
    a duplicate key): the database works. An election's refusals (not primary, shutting down)
    are transient, not rejections (a bulk write's write-concern error among them)."""
    if is_transient(error):
        return False
    for link in chain(error):
        if isinstance(link, ConnectionFailure):
            return False
        if isinstance(link, OperationFailure):
            return link.code not in TRANSIENT_CODES | UNWELL_CODES and not any(
                map(link.has_error_label, TRANSIENT_LABELS)
            )
    return False
