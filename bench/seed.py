"""Benchmark seed_marvel's import on SQLite and on a real MongoDB, side by side. Prints figures.

For each backend (``--backends sqlite,mongodb``, default both), in a fresh worker process with
a throw-away database:

- baseline: the bundled data set read and parsed the same way, then the same rows (1,561
  characters, 8,723 comics, 17,023 links) written with no reads or comparisons: plain
  ``bulk_create`` calls on SQLite; on MongoDB, raw pymongo ``insert_many`` calls of the
  documents django-mongodb-backend would store (each model instance converted by its fields,
  as the backend's insert compiler does) into a fresh database on the same server, whose
  collections get the same indexes as the ORM's;
- first import: ``characters.ingest.seed.seed()`` over the bundled set (``seed_marvel``'s
  entry point, without its database wait) on an empty database;
- no-change re-run: the same again over the imported data (must write nothing).

Each is repeated (``--repeat``, best time kept). Every figure is printed beside the same
figure on the other backend, with a "mongodb / sqlite" ratio: wall time, records/s, the ratio
to the backend's own baseline, database round trips and the worker's peak RSS. Round trips are
counted with a cheap counter, not the ORM's query log (the workers run with DEBUG off, so no
query log formats every operation): Django's ``connection.execute_wrapper`` on SQLite (reads,
writes, and "other": BEGIN/SAVEPOINT), a counting wrapper around each collection handed out by
django-mongodb-backend on MongoDB (aggregate/find are reads). On MongoDB the server's own
``opcounters`` (serverStatus insert/update/delete, taken just before and after each run) say
what was written, whoever wrote it: the re-run's writes are verified there too. The import's
bookkeeping (the lock's row taken and released, the run's history record: written by every
run that writes) is counted apart: on the client by table, on the server by the ``top``
command's per-collection counts.

MongoDB is a 1-member replica set (mongod 6.0.5 from scripts/local_mongo.py) on loopback,
started for the run and stopped (by pid, data deleted) at the end; or the one MONGODB_URI
names, if set (the benchmark then uses, and drops, databases named bench_seed*).

Targets: first import >= 0.5x the baseline's throughput; no-change re-run
<= 0.25x the first import's time with zero writes (on MongoDB: also zero in opcounters); peak
RSS <= 200 MB; round trips O(pages).

    .venv/bin/python -m bench.seed [--backends sqlite,mongodb] [--repeat 3] [--page-size 100]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter

from bench import harness
from bench.harness import BACKENDS, ROOT, verdict
from scripts.local_mongo import ReplicaSet

MONGODB_NAME = "bench_seed"
BASELINE_DB = "bench_seed_raw"
OPCOUNTERS = ("insert", "update", "delete")
# The import's bookkeeping: the lock's row (taken, beaten, released) and the run's history
# record, written by every run that writes; counted apart from the catalogue's writes, on the
# client and on the server (the `top` command), under "lock".
LOCK_TABLES = ("characters_importlock", "characters_importrun")
LOCK_OPERATIONS = ("insert", "update", "remove")  # `top`'s names
MONGO_READS = {"aggregate", "find", "find_one", "count_documents"}
MONGO_WRITES = {
    f"{verb}_{many}" for verb in ("insert", "update", "delete") for many in ("one", "many")
}
MONGO_WRITES |= {"replace_one", "bulk_write"}
MONGO_OPERATIONS = MONGO_READS | MONGO_WRITES


# --- worker (one backend, its own process) --------------------------------------------------


def _setup(backend: str, data_dir: str) -> Counter:
    """Configure Django for ``backend``; returns the live round-trip counter."""
    # As the seed Job runs: DEBUG off (no query log), so a throw-away secret key.
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["DJANGO_SECRET_KEY"] = "bench-only-not-secret"  # noqa: S105 - throw-away
    os.environ["DJANGO_SETTINGS_MODULE"] = "marvelsite.settings"
    os.environ["MARVELSITE_DATA_DIR"] = data_dir
    for name in ("MONGO_SEED0", "OFFSET"):
        os.environ.pop(name, None)
    if backend == "sqlite":
        os.environ.pop("MONGODB_URI", None)
    elif not os.environ.get("MONGODB_URI"):
        raise SystemExit("the mongodb worker needs MONGODB_URI (the parent process sets it)")
    counter: Counter = Counter()
    if backend == "mongodb":
        from django_mongodb_backend.base import DatabaseWrapper

        handed_out = DatabaseWrapper.get_collection

        class Counting:
            def __init__(self, collection, table):
                self._collection = collection
                self._table = table

            def __getattr__(self, name):
                attribute = getattr(self._collection, name)
                if name not in MONGO_OPERATIONS:
                    return attribute

                def counted(*args, **kwargs):
                    kind = "write" if name in MONGO_WRITES else "read"
                    counter["lock" if kind == "write" and self._table in LOCK_TABLES else kind] += 1
                    return attribute(*args, **kwargs)

                return counted

        DatabaseWrapper.get_collection = lambda self, name, **kw: Counting(
            handed_out(self, name, **kw), name
        )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if backend == "mongodb":
        connection.ensure_connection()
        connection.connection.drop_database(connection.settings_dict["NAME"])
    call_command("migrate", verbosity=0)
    if backend == "sqlite":

        def count(execute, sql, params, many, context):
            word = sql.lstrip().split(None, 1)[0].upper()
            kind = {"INSERT": "write", "UPDATE": "write", "DELETE": "write", "SELECT": "read"}
            found = kind.get(word, "other")  # other: BEGIN, SAVEPOINT, ...
            counter[
                "lock" if found == "write" and any(t in sql for t in LOCK_TABLES) else found
            ] += 1
            return execute(sql, params, many, context)

        connection.execute_wrappers.append(count)
    return counter


def _clear() -> None:
    from characters.models import Character, Comic
    from characters.models import CharacterComic as Link

    Link.objects.all().delete()
    Character.objects.all().delete()
    Comic.objects.all().delete()


def _rows(page_size: int) -> tuple[list, list, list]:
    """The bundled set's comics, characters and links as unsaved model instances, mapped as
    the importer maps them."""
    from django.utils import timezone

    from characters.ingest.importer import character_row, comic_row
    from characters.ingest.recordings import BUNDLED_DATASET, RecordingSource
    from characters.models import CharacterComic as Link

    characters, comics, links = [], {}, []
    now = timezone.now()
    for page in RecordingSource(BUNDLED_DATASET, page_size=page_size):
        for record in page.records:
            characters.append(character_row(record, now))
            characters[-1].derive()  # the sort key and search tokens, as the ORM stores them
            for comic in record.comics:
                comics[comic.id] = comic_row(comic, now)
                comics[comic.id].derive()
                links.append(Link(character_id=record.id, comic_id=comic.id))
    return list(comics.values()), characters, links


def _counts(comics: list, characters: list, links: list) -> dict:
    return {"characters": len(characters), "comics": len(comics), "links": len(links)}


def _baseline(page_size: int) -> dict:
    """SQLite: same input, same rows, plain bulk inserts: no reads, no comparisons."""
    from characters.models import Character, Comic
    from characters.models import CharacterComic as Link

    comics, characters, links = _rows(page_size)
    Comic.objects.bulk_create(comics)
    Character.objects.bulk_create(characters)
    Link.objects.bulk_create(links)
    return _counts(comics, characters, links)


class RawMongo:
    """The MongoDB baseline's own pymongo client, on the server Django uses."""

    def __init__(self, counter: Counter) -> None:
        from django.db import connection
        from pymongo import MongoClient

        self.counter = counter
        self.client = MongoClient(os.environ["MONGODB_URI"])
        self.django_db = self.client[connection.settings_dict["NAME"]]
        self.db = self.client[BASELINE_DB]

    def close(self) -> None:
        self.client.drop_database(BASELINE_DB)
        self.client.close()

    def opcounters(self) -> dict:
        """The server's write counters, and the import's bookkeeping share of them ("lock")."""
        from pymongo.errors import OperationFailure

        counters = self.client.admin.command("serverStatus")["opcounters"]
        found = {name: counters[name] for name in OPCOUNTERS}
        try:
            totals = self.client.admin.command("top")["totals"]
        except OperationFailure:  # not allowed on some hosted servers: all writes count
            totals = {}
        found["lock"] = sum(
            totals.get(f"{self.django_db.name}.{table}", {}).get(op, {}).get("count", 0)
            for table in LOCK_TABLES
            for op in LOCK_OPERATIONS
        )
        return found

    def version(self) -> str:
        return self.client.server_info()["version"]

    def fresh_database(self, tables: list[str]) -> None:
        """Drop the baseline's database; re-create its collections with the ORM's indexes."""
        self.client.drop_database(BASELINE_DB)
        for table in tables:
            specs = [
                {key: value for key, value in spec.items() if key not in ("v", "ns")}
                for spec in self.django_db[table].list_indexes()
                if spec["name"] != "_id_"
            ]
            self.db.create_collection(table)
            if specs:
                self.db.command("createIndexes", table, indexes=specs)

    def baseline(self, page_size: int) -> dict:
        """Same input, the same documents the ORM would store, raw ``insert_many`` calls."""
        from django.db import connection

        comics, characters, links = _rows(page_size)
        for objs in (comics, characters, links):
            meta = objs[0]._meta
            fields = [f for f in meta.concrete_fields if f is not meta.auto_field]
            documents = [
                {
                    f.column: f.get_db_prep_save(f.pre_save(obj, True), connection=connection)
                    for f in fields
                }
                for obj in objs
            ]
            self.db[meta.db_table].insert_many(documents)
            self.counter["write"] += 1
        return _counts(comics, characters, links)

    def shapes_match(self, tables: list[str]) -> str:
        """Whether the baseline's documents have the ORM's field names and types."""

        def shape(document: dict) -> dict:
            return {key: type(value).__name__ for key, value in document.items()}

        differences = []
        for table in tables:
            orm = self.django_db[table].find_one(sort=[("id", 1), ("comic_id", 1)])
            raw = self.db[table].find_one(sort=[("id", 1), ("comic_id", 1)])
            if orm is None or raw is None or shape(orm) != shape(raw):
                orm_shape = shape(orm or {})
                raw_shape = shape(raw or {})
                differences.append(f"{table}: ORM {orm_shape} vs raw {raw_shape}")
        return "; ".join(differences) or "yes"


def _import(page_size: int) -> dict:
    from characters.ingest.seed import SeedOptions, seed

    return seed(SeedOptions(page_size=page_size)).as_dict()


def _measure(counter: Counter, raw: RawMongo | None, action, *args) -> dict:
    counter.clear()
    before = raw.opcounters() if raw else None
    started = time.perf_counter()
    result = action(*args)
    seconds = time.perf_counter() - started
    after = raw.opcounters() if raw else None
    return {
        "seconds": seconds,
        "reads": counter["read"],
        "writes": counter["write"],
        "other": counter["other"],
        "lock": counter["lock"],
        "server": {name: after[name] - before[name] for name in after} if raw else None,
        "result": result,
    }


def worker(backend: str, repeat: int, page_size: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-seed-") as data_dir:
        counter = _setup(backend, data_dir)
        from characters.models import Character, Comic
        from characters.models import CharacterComic as Link

        tables = [model._meta.db_table for model in (Comic, Character, Link)]
        raw = RawMongo(counter) if backend == "mongodb" else None
        best: dict = {"backend": backend, "page_size": page_size}
        try:
            runs: dict[str, list[dict]] = {"baseline": [], "first": [], "rerun": []}
            for _ in range(repeat):
                _clear()
                if raw:
                    raw.fresh_database(tables)
                    runs["baseline"].append(_measure(counter, raw, raw.baseline, page_size))
                else:
                    runs["baseline"].append(_measure(counter, raw, _baseline, page_size))
                _clear()
                runs["first"].append(_measure(counter, raw, _import, page_size))
                runs["rerun"].append(_measure(counter, raw, _import, page_size))
            if raw:
                best["shapes_match"] = raw.shapes_match(tables)
                best["server_version"] = raw.version()
        finally:
            if raw:
                raw.close()
        best.update({name: min(found, key=lambda r: r["seconds"]) for name, found in runs.items()})
        # The no-change re-run's writes: the worst repeat, not the fastest one.
        best["rerun_server_writes"] = max(
            (_catalogue_writes(r["server"]) for r in runs["rerun"]) if raw else [0]
        )
        best["rerun_client_writes"] = max(r["writes"] for r in runs["rerun"])
        best["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        best["records"] = best["first"]["result"]["characters_created"]
        best["pages"] = best["first"]["result"]["pages"]
        return best


# --- the report (parent process) -------------------------------------------------------------


def _rows_changed(counters: dict) -> int:
    return sum(counters[k] for k in counters if k.endswith(("_created", "_updated", "_deleted")))


def _catalogue_writes(server: dict) -> int:
    return sum(server[name] for name in OPCOUNTERS) - server["lock"]


def _trips(run: dict) -> int:
    return run["reads"] + run["writes"] + run["other"] + run["lock"]


def _figures(f: dict) -> list[tuple[str, object]]:
    """(label, value) for one backend; numbers get a ratio column, text does not."""
    records, pages = f["records"], f["pages"]
    base, first, rerun = f["baseline"], f["first"], f["rerun"]

    def server(run: dict) -> str:
        if run["server"] is None:
            return "n/a"
        counts = "/".join(str(run["server"][name]) for name in OPCOUNTERS)
        return f"{counts} ({run['server']['lock']} bookkeeping)"

    rows: list[tuple[str, object]] = []
    for label, run in (
        ("baseline", base),
        ("first import", first),
        ("no-change re-run", rerun),
    ):
        rows += [
            (f"{label}: seconds", run["seconds"]),
            (f"{label}: records/s", records / run["seconds"]),
        ]
        if run is not base:
            rows.append((f"{label}: x baseline throughput", base["seconds"] / run["seconds"]))
        rows += [
            (
                f"{label}: reads/writes/other trips",
                f"{run['reads']}/{run['writes']}/{run['other']} +{run['lock']} bookkeeping",
            ),
            (f"{label}: trips per page", _trips(run) / pages),
            (f"{label}: server insert/update/delete", server(run)),
        ]
        if run is rerun:
            rows += [
                ("no-change re-run: x first import time", rerun["seconds"] / first["seconds"]),
                ("no-change re-run: rows changed", _rows_changed(rerun["result"])),
            ]
    rows.append(("peak RSS of the worker (MB)", f["peak_rss_mb"]))
    return rows


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}" if value < 1000 else f"{value:.0f}"
    return str(value)


def report(results: dict[str, dict]) -> None:
    backends = list(results)
    some = next(iter(results.values()))
    print(
        f"== seed_marvel import: {some['records']} characters, {some['pages']} pages of "
        f"{some['page_size']} (best of the repeats) =="
    )
    if "mongodb" in results:
        print(
            f"baselines: sqlite = plain bulk_create; mongodb = raw pymongo insert_many of the "
            f"ORM's documents (same field names and types as the ORM's: "
            f"{results['mongodb']['shapes_match']}); mongod {results['mongodb']['server_version']}"
            f", 1-member replica set on loopback"
        )
    ratio = backends == ["sqlite", "mongodb"]
    table = {name: _figures(figures) for name, figures in results.items()}
    rows = [["figure", *backends, *(["mongodb / sqlite"] if ratio else [])]]
    for index, (label, _) in enumerate(table[backends[0]]):
        values = [table[name][index][1] for name in backends]
        numeric = ratio and all(isinstance(v, int | float) for v in values) and values[0]
        rows.append([label, *map(_cell, values), f"{values[1] / values[0]:.2f}" if numeric else ""])
    harness.print_table(rows)
    print("targets:")
    for name, f in results.items():
        base, first, rerun = f["baseline"], f["first"], f["rerun"]
        first_ratio = base["seconds"] / first["seconds"]
        rerun_ratio = rerun["seconds"] / first["seconds"]
        changed = _rows_changed(rerun["result"])
        zero = f["rerun_client_writes"] == 0 == changed == f["rerun_server_writes"]
        server = (
            f", server opcounters +{f['rerun_server_writes']} writes besides the bookkeeping"
            if name == "mongodb"
            else ""
        )
        kinds = ("reads", "writes", "other", "lock")
        print(
            f"  {name}: first import >= 0.5x baseline throughput: {first_ratio:.2f}x "
            f"-> {verdict(first_ratio >= 0.5)}",
            f"  {name}: re-run <= 0.25x first import time, zero writes: {rerun_ratio:.2f}x, "
            f"{f['rerun_client_writes']} write round trips besides the bookkeeping, "
            f"{changed} rows changed{server} "
            f"-> {verdict(rerun_ratio <= 0.25 and zero)}",
            f"  {name}: peak RSS <= 200 MB: {f['peak_rss_mb']:.0f} MB "
            f"-> {verdict(f['peak_rss_mb'] <= 200)}",
            f"  {name}: round trips O(pages): {sum(first[k] for k in kinds) / f['pages']:.1f} "
            f"per page (first), {sum(rerun[k] for k in kinds) / f['pages']:.1f} per page (re-run)",
            sep="\n",
        )


@contextlib.contextmanager
def mongodb_uri(needed: bool):
    """MONGODB_URI if set; else a throw-away 1-member replica set, stopped (by pid) on exit."""
    if not needed or os.environ.get("MONGODB_URI"):
        yield os.environ.get("MONGODB_URI")
        return
    with ReplicaSet(members=1) as replica_set:
        yield replica_set.uri


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.add_backends(parser)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind; best kept")
    parser.add_argument("--page-size", type=int, default=100, help="records per page")
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeat, args.page_size)))
        return 0
    backends = args.backends
    print(f"bench.seed: python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    results = {}
    with mongodb_uri("mongodb" in backends) as uri:
        for backend in backends:
            env = {k: v for k, v in os.environ.items() if not k.startswith("MONGO")}
            if backend == "mongodb":
                env.update(MONGODB_URI=uri, MONGODB_NAME=MONGODB_NAME)
            done = subprocess.run(
                [
                    harness.PYTHON,
                    "-m",
                    "bench.seed",
                    "--worker",
                    backend,
                    "--repeat",
                    str(args.repeat),
                    "--page-size",
                    str(args.page_size),
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                print(f"== {backend}: worker failed ==\n{done.stderr[-3000:]}")
                return 1
            results[backend] = harness.last_json(done.stdout)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
