"""The MongoDB driver's errors, for code outside the store that catches or classifies them
(django-mongodb-backend lets some through unwrapped, and chains the rest as `__cause__`)."""

from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    InvalidDocument,
    InvalidOperation,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

__all__ = [
    "BulkWriteError",
    "ConnectionFailure",
    "InvalidDocument",
    "InvalidOperation",
    "OperationFailure",
    "PyMongoError",
    "ServerSelectionTimeoutError",
]
