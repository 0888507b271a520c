"""Choose the database from the environment: MongoDB when configured, else embedded SQLite.

Kept apart from settings.py as a pure function of an environment mapping so that every
selection path and every error can be tested without re-importing settings.
"""

import warnings
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from marvelsite.secrets_env import secret

MONGODB_ENGINE = "django_mongodb_backend"
# Timeouts, chosen (docs/pages-and-admin.md, "Reads through elections"); a URI's own values
# win, except that the read preferences are ours: the admin and writes need the primary, public
# reads do not.
# - connectTimeoutMS 2000 (pymongo: 20000): a member that has not accepted a connection within
#   2 s on a cluster network is down; also bounds each monitor's heartbeat.
# - serverSelectionTimeoutMS 5000 (pymongo: 30000) on "default": how long the admin, writes,
#   migrations and probes wait for a primary; an election takes longer (electionTimeoutMillis
#   is 10 s), so an admin save during one gets a 503 with Retry-After rather than holding a
#   thread for it.
# - serverSelectionTimeoutMS 2000 on "reads": any member will do, so during an election a
#   secondary is chosen at once; waiting longer only holds a thread during a full outage.
# - socketTimeoutMS 5000 on "reads" (pymongo: none): a page's query takes milliseconds; one
#   stuck on a member that vanished without closing its sockets is failed, not left to
#   gunicorn's 30 s worker timeout.
MONGODB_DEFAULT_OPTIONS = {"serverSelectionTimeoutMS": 5000, "connectTimeoutMS": 2000}
MONGODB_READS_OPTIONS = {"serverSelectionTimeoutMS": 2000, "socketTimeoutMS": 5000}


def seed_hosts(env: Mapping[str, str]) -> list[str]:
    """MONGO_SEED0, MONGO_SEED1, ... in order, stopping at the first gap."""
    hosts = []
    while env.get(f"MONGO_SEED{len(hosts)}"):
        hosts.append(env[f"MONGO_SEED{len(hosts)}"])
    return hosts


def seed_password(env: Mapping[str, str]) -> str | None:
    """MONGO_PASSWORD (or the file MONGO_PASSWORD_FILE names); else, for one release,
    `password` (the seed article's name for it)."""
    if password := secret(env, "MONGO_PASSWORD"):
        return password
    if env.get("password"):
        warnings.warn(
            "The variable `password` is deprecated and will stop working in the next release: "
            "set MONGO_PASSWORD instead.",
            FutureWarning,
            stacklevel=2,
        )
        return env["password"]
    return None


def mongodb_uri(env: Mapping[str, str]) -> str | None:
    """The MongoDB connection string configured in env, or None for the embedded default.

    MONGODB_URI wins; else the seed article's variables (MONGO_SEED0..N, MONGO_USERNAME and
    MONGO_PASSWORD) build a replica-set URI.
    """
    if uri := secret(env, "MONGODB_URI"):
        return uri
    hosts = seed_hosts(env)
    password = seed_password(env)
    credentials = {"MONGO_USERNAME": env.get("MONGO_USERNAME"), "MONGO_PASSWORD": password}
    if not hosts:
        if orphans := [name for name, value in credentials.items() if value]:
            raise ImproperlyConfigured(
                f"MONGO_SEED0 is not set but {', '.join(orphans)} is: set MONGO_SEED0 (and "
                "MONGO_SEED1..N) to the replica set members, or MONGODB_URI."
            )
        return None
    for name, value in credentials.items():
        if not value:
            raise ImproperlyConfigured(
                f"{name} is not set: MONGO_SEED0 is, so MongoDB needs {name} too "
                "(or set MONGODB_URI instead)."
            )
    port = env.get("MONGO_PORT", "27017")
    members = ",".join(host if ":" in host else f"{host}:{port}" for host in hosts)
    userinfo = f"{quote(env['MONGO_USERNAME'], safe='')}:{quote(password, safe='')}"
    query = urlencode(
        {
            "replicaSet": env.get("MONGO_REPLICA_SET", "mongodb"),
            "authSource": env.get("MONGO_AUTH_SOURCE", "admin"),
        }
    )
    return f"mongodb://{userinfo}@{members}/?{query}"


# SQLite's page cache per connection, in KiB (see database_settings).
SQLITE_CACHE_KB = 32_000
# WAL pages after which a committing connection copies the WAL back into the database
# (SQLite's default: 1,000 pages, 4 MB; see database_settings).
SQLITE_WAL_AUTOCHECKPOINT = 10_000


def tls_options(env: Mapping[str, str]) -> dict:
    """TLS to MongoDB, verified against the CA in the file MONGO_TLS_CA_FILE names."""
    ca_file = env.get("MONGO_TLS_CA_FILE")
    if not ca_file:
        return {}
    if not Path(ca_file).is_file():
        raise ImproperlyConfigured(f"MONGO_TLS_CA_FILE names {ca_file}, which is not a file.")
    return {"tls": True, "tlsCAFile": ca_file}


def database_settings(env: Mapping[str, str], base_dir: Path) -> dict:
    """The DATABASES["default"] entry for this environment."""
    uri = mongodb_uri(env)
    if uri is None:
        data_dir = Path(env.get("MARVELSITE_DATA_DIR") or base_dir / "var")
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": data_dir / "db.sqlite3",
            # One connection per worker thread, kept: opening one costs more than a cached page.
            "CONN_MAX_AGE": 600,
            "OPTIONS": {
                # Readers never wait for a writer (the seed command while the site serves), and
                # a write transaction takes its lock at BEGIN instead of failing when it upgrades.
                # Each kept connection caches up to 32 MB of pages (SQLite's default is 2 MB):
                # a page's comic titles are random reads all over a large catalogue's tables
                # (docs/benchmarks.md, "Cost as the catalogue grows").
                # The WAL is copied back after 10,000 pages (40 MB), not 1,000: an import page's
                # commit dirties thousands of index pages on a large catalogue, so with the
                # default every commit also ran a checkpoint (two fsyncs, every page written
                # twice); now a checkpoint writes a page rewritten by several commits once
                # (docs/benchmarks.md, "Cost as the catalogue grows").
                "init_command": (
                    f"PRAGMA journal_mode=WAL; PRAGMA cache_size=-{SQLITE_CACHE_KB}; "
                    f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT}"
                ),
                "transaction_mode": "IMMEDIATE",
                # How long a write waits for another's lock (two admin saves, the seed command).
                "timeout": 20,
            },
        }
    if not uri.startswith(("mongodb://", "mongodb+srv://")):
        raise ImproperlyConfigured(
            "MONGODB_URI must start with mongodb:// or mongodb+srv:// "
            f"(got {uri.split('://', 1)[0]!r}://...)."
        )
    return {
        "ENGINE": MONGODB_ENGINE,
        # The whole connection string goes to MongoClient.
        "HOST": uri,
        "NAME": env.get("MONGODB_NAME") or "marvel",
        "OPTIONS": {
            **left_to_us(MONGODB_DEFAULT_OPTIONS, uri),
            **tls_options(env),
            "readPreference": "primary",
        },
    }


def left_to_us(options: Mapping, uri: str) -> dict:
    """`options` but those the URI sets: MongoClient's keyword options override the URI's, so
    only fill in what it leaves out."""
    given = {name.lower() for name in parse_qs(urlsplit(uri).query)}
    return {name: value for name, value in options.items() if name.lower() not in given}


def public_reads_settings(default: Mapping) -> dict:
    """The "reads" alias (marvelsite/routing.py): the same MongoDB database, read with
    primaryPreferred so public pages keep reading from a secondary during an election."""
    return {
        **default,
        "ENGINE": "marvelsite.mongodb_reads",  # reads the server version from any member too
        "OPTIONS": {
            **default["OPTIONS"],
            **left_to_us(MONGODB_READS_OPTIONS, default["HOST"]),
            "readPreference": "primaryPreferred",
        },
    }


def is_mongodb(database: Mapping) -> bool:
    return database["ENGINE"] == MONGODB_ENGINE


def sqlite_folder_exists(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """System check: SQLite makes its file, not the folder, which nothing makes on import
    (scripts/run makes ./var; elsewhere the command that sets MARVELSITE_DATA_DIR makes it)."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    folder = Path(database["NAME"]).parent
    if is_mongodb(database) or folder.is_dir():
        return []
    return [
        checks.Error(
            f"the SQLite folder {folder} does not exist",
            hint=f"create it (mkdir -p {folder}) or set MARVELSITE_DATA_DIR to a folder",
            id="marvelsite.E001",
        )
    ]
