"""django-mongodb-backend for the "reads" alias (marvelsite/routing.py), with one change.

Django checks the server's version the first time each process connects an alias; the backend
asks with pymongo's server_info(), which must reach the primary. A worker whose first public
page came during an election would then fail it, although any member can answer both the
version and the page. Here the version is read with primaryPreferred too.
"""

from django_mongodb_backend.base import DatabaseWrapper as MongoDBDatabaseWrapper
from pymongo import ReadPreference


class DatabaseWrapper(MongoDBDatabaseWrapper):
    def get_database_version(self):
        info = self.connection.admin.command(
            "buildinfo", read_preference=ReadPreference.PRIMARY_PREFERRED
        )
        return tuple(info["versionArray"])
