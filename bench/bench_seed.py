#!/usr/bin/env python3
"""Benchmark seed_marvel's import on SQLite and on the MongoDB path. Prints figures only.

For each backend, in a fresh worker process with a throw-away database:

- baseline: the bundled data set read and parsed the same way, then the same rows (1,050
  characters, 6,732 comics, 11,383 links) written by plain ``bulk_create`` calls on an empty
  database, with no reads or comparisons;
- first import: ``Importer`` over the bundled set's pages (``seed_marvel``'s path) on an empty
  database;
- no-change re-run: the same again over the imported data (must write nothing).

Each is repeated (``--repeat``, best time kept) and reported as wall time, records/s, the
ratio to the baseline's throughput, database round trips (total and per page) and the
worker's peak RSS. Round trips are counted with a cheap counter, not the ORM's query log
(which would format every operation): Django's ``connection.execute_wrapper`` on SQLite
(reads, writes, and "other": BEGIN/SAVEPOINT), a counting wrapper around each collection
handed out by django-mongodb-backend on MongoDB (aggregate/find are reads).

The MongoDB path runs on the mongomock-ng stand-in (tests/support/mongo_stand_in.py), as the
test suite does: django-mongodb-backend's real compiler and pymongo-shaped calls, executed by
an in-process Python store that has no indexes (every query scans its collection), so its
times say little about a real server's; its round trips are exact.

Targets (issue 3): first import >= 0.5x the baseline's throughput; no-change re-run <= 0.25x
the first import's time with zero writes; peak RSS <= 200 MB; round trips O(pages).

    .venv/bin/python bench/bench_seed.py [--backends sqlite,stand-in] [--repeat 3] [--page-size 100]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("sqlite", "stand-in")
MONGO_OPERATIONS = {
    "aggregate",
    "find",
    "find_one",
    "count_documents",
    "insert_one",
    "insert_many",
    "update_one",
    "update_many",
    "replace_one",
    "delete_one",
    "delete_many",
    "bulk_write",
}
MONGO_WRITES = {
    op
    for op in MONGO_OPERATIONS
    if op.startswith(("insert", "update", "replace", "delete", "bulk"))
}


# --- worker (one backend, its own process) --------------------------------------------------


def _setup(backend: str, data_dir: str) -> Counter:
    """Configure Django for ``backend``; returns the live round-trip counter."""
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_DEBUG"] = "true"
    os.environ["MARVELSITE_DATA_DIR"] = data_dir
    for name in ("MONGODB_URI", "MONGO_SEED0", "OFFSET"):
        os.environ.pop(name, None)
    counter: Counter = Counter()
    if backend == "stand-in":
        os.environ["MARVELSITE_TEST_MONGO"] = "stand-in"
        os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
        from django_mongodb_backend.base import DatabaseWrapper

        from tests.support import mongo_stand_in

        mongo_stand_in.install()
        handed_out = DatabaseWrapper.get_collection

        class Counting:
            def __init__(self, collection):
                self._collection = collection

            def __getattr__(self, name):
                attribute = getattr(self._collection, name)
                if name not in MONGO_OPERATIONS:
                    return attribute

                def counted(*args, **kwargs):
                    counter["write" if name in MONGO_WRITES else "read"] += 1
                    return attribute(*args, **kwargs)

                return counted

        DatabaseWrapper.get_collection = lambda self, name, **kw: Counting(
            handed_out(self, name, **kw)
        )
    else:
        os.environ["DJANGO_SETTINGS_MODULE"] = "marvelsite.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    if backend == "sqlite":

        def count(execute, sql, params, many, context):
            word = sql.lstrip().split(None, 1)[0].upper()
            kind = {"INSERT": "write", "UPDATE": "write", "DELETE": "write", "SELECT": "read"}
            counter[kind.get(word, "other")] += 1  # other: BEGIN, SAVEPOINT, ...
            return execute(sql, params, many, context)

        connection.execute_wrappers.append(count)
    return counter


def _clear() -> None:
    from characters.importer import Link
    from characters.models import Character, Comic

    Link.objects.all().delete()
    Character.objects.all().delete()
    Comic.objects.all().delete()


def _baseline(page_size: int) -> dict:
    """Same input, same rows, plain bulk inserts: no reads, no comparisons."""
    from django.utils import timezone

    from characters.importer import Link
    from characters.marvel.recordings import BUNDLED_DATASET, RecordingSource
    from characters.models import Character, Comic

    characters, comics, links = [], {}, []
    now = timezone.now()
    for page in RecordingSource(BUNDLED_DATASET, page_size=page_size):
        for r in page.records:
            characters.append(
                Character(
                    id=r.id,
                    name=r.name,
                    description=r.description,
                    thumbnail_path=r.thumbnail_path,
                    thumbnail_extension=r.thumbnail_extension,
                    modified=r.modified,
                    resource_uri=r.resource_uri,
                    comics_available=r.comics_available,
                    urls=r.urls_json(),
                    created_at=now,
                    updated_at=now,
                )
            )
            for c in r.comics:
                comics[c.id] = Comic(
                    id=c.id,
                    title=c.title,
                    resource_uri=c.resource_uri,
                    created_at=now,
                    updated_at=now,
                )
                links.append(Link(character_id=r.id, comic_id=c.id))
    Comic.objects.bulk_create(list(comics.values()))
    Character.objects.bulk_create(characters)
    Link.objects.bulk_create(links)
    return {"characters": len(characters), "comics": len(comics), "links": len(links)}


def _import(page_size: int) -> dict:
    from characters.importer import Importer
    from characters.marvel.recordings import BUNDLED_DATASET, RecordingSource

    importer = Importer()
    for page in RecordingSource(BUNDLED_DATASET, page_size=page_size):
        importer.import_page(page)
    return importer.stats.as_dict()


def _measure(counter: Counter, action, *args) -> dict:
    counter.clear()
    started = time.perf_counter()
    result = action(*args)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "reads": counter["read"],
        "writes": counter["write"],
        "other": counter["other"],
        "result": result,
    }


def worker(backend: str, repeat: int, page_size: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-seed-") as data_dir:
        counter = _setup(backend, data_dir)
        runs: dict[str, list[dict]] = {"baseline": [], "first": [], "rerun": []}
        for _ in range(repeat):
            _clear()
            runs["baseline"].append(_measure(counter, _baseline, page_size))
            _clear()
            runs["first"].append(_measure(counter, _import, page_size))
            runs["rerun"].append(_measure(counter, _import, page_size))
        best = {name: min(found, key=lambda run: run["seconds"]) for name, found in runs.items()}
        best["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        best["backend"] = backend
        best["page_size"] = page_size
        best["records"] = best["first"]["result"]["characters_created"]
        best["pages"] = best["first"]["result"]["pages"]
        return best


# --- the report (parent process) -------------------------------------------------------------


def report(figures: dict) -> list[str]:
    records, pages = figures["records"], figures["pages"]
    base, first, rerun = figures["baseline"], figures["first"], figures["rerun"]
    lines = [
        f"== {figures['backend']}: {records} characters, {pages} pages of {figures['page_size']} "
        f"(best of the repeats) =="
    ]
    lines.append(
        f"{'run':<22}{'seconds':>9}{'records/s':>11}{'x baseline':>12}"
        f"{'reads':>7}{'writes':>8}{'other':>7}{'trips/page':>12}"
    )
    for label, run in (
        ("baseline bulk insert", base),
        ("first import", first),
        ("no-change re-run", rerun),
    ):
        rate = records / run["seconds"]
        ratio = base["seconds"] / run["seconds"]
        trips = (run["reads"] + run["writes"] + run["other"]) / pages
        lines.append(
            f"{label:<22}{run['seconds']:>9.3f}{rate:>11.0f}{ratio:>12.2f}"
            f"{run['reads']:>7}{run['writes']:>8}{run['other']:>7}{trips:>12.1f}"
        )
    counters = rerun["result"]
    rerun_writes = sum(
        counters[k] for k in counters if k.endswith(("_created", "_updated", "_deleted"))
    )
    kinds = ("reads", "writes", "other")
    first_ratio = base["seconds"] / first["seconds"]
    rerun_ratio = rerun["seconds"] / first["seconds"]
    lines += [
        f"peak RSS of the worker: {figures['peak_rss_mb']:.0f} MB",
        "targets:",
        f"  first import >= 0.5x baseline throughput: {first_ratio:.2f}x "
        f"-> {'met' if first_ratio >= 0.5 else 'MISSED'}",
        f"  re-run <= 0.25x first import time, zero writes: {rerun_ratio:.2f}x, "
        f"{rerun['writes']} write round trips, {rerun_writes} rows changed "
        f"-> {'met' if rerun_ratio <= 0.25 and rerun['writes'] == 0 == rerun_writes else 'MISSED'}",
        f"  peak RSS <= 200 MB: {figures['peak_rss_mb']:.0f} MB "
        f"-> {'met' if figures['peak_rss_mb'] <= 200 else 'MISSED'}",
        f"  round trips O(pages): {sum(first[k] for k in kinds) / pages:.1f} per page "
        f"(first), {sum(rerun[k] for k in kinds) / pages:.1f} per page (re-run)",
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeat, args.page_size)))
        return 0
    print(f"bench_seed: python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    for backend in args.backends.split(","):
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                backend,
                "--repeat",
                str(args.repeat),
                "--page-size",
                str(args.page_size),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(f"== {backend}: worker failed ==\n{done.stderr[-3000:]}")
            return 1
        print("\n".join(report(json.loads(done.stdout.strip().splitlines()[-1]))))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
