"""What MongoDB does for the commands a piece of code sends: recorded with pymongo's command
monitoring, then explained (executionStats) against the same server.

The listener is registered before Django opens its first connection (tests/conftest.py), since
pymongo hands listeners to clients when they are created.
"""

import datetime as dt
from dataclasses import dataclass, field

from django.db import connection
from pymongo import monitoring

from characters.models import Character, Comic, DeletedCharacter
from tests.support.page_data import IMAGE_PATH

# Commands with a query plan; the rest (inserts, transactions, hello, ...) have none.
PLANNED = {"aggregate", "find", "count", "distinct", "update", "delete"}
# Per-session and per-transaction fields that explain does not take.
SESSION_FIELDS = {
    "lsid",
    "txnNumber",
    "autocommit",
    "startTransaction",
    "$clusterTime",
    "$db",
    "readConcern",
    "writeConcern",
    "$readPreference",
}


class CommandRecorder(monitoring.CommandListener):
    def __init__(self):
        self.recording: list | None = None
        self.get_mores: list[str] | None = None  # collections a getMore asked more of

    def started(self, event):
        if self.get_mores is not None and event.command_name == "getMore":
            self.get_mores.append(event.command.get("collection"))
        # A database-level aggregate (`aggregate: 1`, the version watcher's change stream on
        # its own thread) targets no collection: it is not the code under test.
        target = event.command.get(event.command_name)
        if self.recording is not None and event.command_name in PLANNED and isinstance(target, str):
            command = {k: v for k, v in event.command.items() if k not in SESSION_FIELDS}
            self.recording.append((event.database_name, command))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


RECORDER = CommandRecorder()


@dataclass
class Plan:
    """One command's plan: its collection, whether anything scanned a whole collection, and
    how many documents and index keys it examined (its own and those of every $lookup)."""

    collection: str
    command: dict
    scans: list[str] = field(default_factory=list)
    docs_examined: int = 0
    keys_examined: int = 0


def _walk(node, plan: Plan, path: str = "") -> None:
    if isinstance(node, dict):
        if node.get("stage") == "COLLSCAN":
            plan.scans.append(f"COLLSCAN at {path}")
        if node.get("strategy") == "NestedLoopJoin":  # SBE's $lookup without an index
            plan.scans.append(f"unindexed $lookup at {path}")
        if node.get("collectionScans"):  # a classic $lookup's scans of its collection
            plan.scans.append(f"{node['collectionScans']} $lookup collection scans at {path}")
        if isinstance(node.get("totalDocsExamined"), int):
            plan.docs_examined += node["totalDocsExamined"]
        if isinstance(node.get("totalKeysExamined"), int):
            plan.keys_examined += node["totalKeysExamined"]
        for key, value in node.items():
            if key != "rejectedPlans":
                _walk(value, plan, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _walk(value, plan, f"{path}[{index}]")


def explain(client, database: str, command: dict) -> Plan:
    name = next(iter(command))
    if name == "aggregate":  # without the batch size the driver asked for
        command = {**command, "cursor": {}}
    result = client[database].command("explain", command, verbosity="executionStats")
    plan = Plan(collection=command[name], command=command)
    _walk(result, plan)
    return plan


SIZES = (150, 1500)  # characters (every page full at both); comics and links grow with them
COMICS_EACH = 4
CAST = 6  # characters in each comic
# A page shows 24 (admin: 50) rows, each with a few comics: what it may read, whatever the size.
MOST_DOCS_PER_PAGE = 600


def make_catalogue(size: int) -> None:
    """`size` characters, each in COMICS_EACH comics, each comic with CAST characters, and as
    many deleted ones (tombstones)."""
    comic_count = size * COMICS_EACH // CAST
    Comic.objects.bulk_create(
        [Comic(id=100_000 + n, title=f"Comic {n:05d}") for n in range(comic_count)]
    )
    Character.objects.bulk_create(
        [
            Character(
                id=n,
                name=f"Hero {n:04d}",
                thumbnail_path=IMAGE_PATH if n % 2 else "",
                thumbnail_extension="jpg",
                comics_available=n % 30,
                modified=dt.datetime(2010, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=n),
            )
            for n in range(1, size + 1)
        ]
    )
    DeletedCharacter.objects.bulk_create(
        [DeletedCharacter(id=size + n, name=f"Hero {size + n:04d}") for n in range(1, size + 1)]
    )
    link = Character.comics.through
    link.objects.bulk_create(
        [
            link(character_id=n, comic_id=100_000 + (n * COMICS_EACH + k) % comic_count)
            for n in range(1, size + 1)
            for k in range(COMICS_EACH)
        ]
    )


def plans_of(action):
    """Run `action` while recording its commands; explain each one."""
    RECORDER.recording = []
    try:
        action()
        recorded = RECORDER.recording
    finally:
        RECORDER.recording = None
    client = connection.connection
    return [explain(client, database, command) for database, command in recorded]


def with_plans(action):
    """What `action()` returns, and the plans of the commands it sent."""
    returned = []
    plans = plans_of(lambda: returned.append(action()))
    return returned[0], plans


def docs_examined(plans) -> int:
    return sum(plan.docs_examined for plan in plans)


def assert_index_served(label, plans):
    ours = [plan for plan in plans if plan.collection.startswith("characters_")]
    assert ours, f"{label}: no query on the catalogue was recorded"
    for plan in ours:
        assert not plan.scans, f"{label}: {plan.scans} in {plan.command}"
