"""What MongoDB does for the commands a piece of code sends: recorded with pymongo's command
monitoring, then explained (executionStats) against the same server.

The listener is registered before Django opens its first connection (tests/conftest.py), since
pymongo hands listeners to clients when they are created.
"""

from dataclasses import dataclass, field

from pymongo import monitoring

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

    def started(self, event):
        if self.recording is not None and event.command_name in PLANNED:
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
    how many documents it examined (its own and those of every $lookup)."""

    collection: str
    command: dict
    scans: list[str] = field(default_factory=list)
    docs_examined: int = 0


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
