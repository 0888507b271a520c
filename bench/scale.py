"""How the import and the uncached pages cost as the catalogue grows: 1x, 10x (and 100x) the
bundled data set, on SQLite and on a real MongoDB replica set. Prints figures and each one's
ratio to the same figure at 1x, measured in the same run.

    .venv/bin/python -m bench.scale [--backends sqlite,mongodb] [--max-scale 10|100]
        [--seed 13] [--concurrency 8] [--requests 400] [--max-seconds 6]

For each scale (1 and 10; 100 only with ``--max-scale 100``: about 105k characters, 673k
comics, 1.14M links) bench.synthetic_catalogue writes the catalogue (deterministic: the same
scale and seed give the same bytes) into a temporary folder, and for each backend, on a fresh
database (SQLite in a temporary folder; MongoDB a database on one 1-member replica set of
scripts/local_mongo.py, started for the run and stopped by pid at the end):

- import: ``manage.py migrate``, then the real ``manage.py seed_marvel --path FOLDER --json``
  in its own process: its own ``seconds`` (start-up excluded), characters per second, the
  process's peak RSS (``wait4``); then the same command again over the imported data (a
  no-change re-run, which must write nothing);
- pages, uncached (``MARVELSITE_PAGE_CACHE_SECONDS=0``; the lists' counts kept per catalogue
  version as by default), once every import is done: every backend and scale served at once
  by its own gunicorn as the container runs it, and a bounded load from a second process on
  127.0.0.1, URL by URL, each in turn, so that a change in the machine's load weighs on every
  scale alike: requests/s, p95 and the server's CPU time per request (gunicorn and mongod,
  from /proc) for the first and the last-but-one list page, a search (``?q=man``), the
  character with the most comics, the comic with the most characters, the home page, and the
  admin changelist with a search (a superuser's session; the second factor off);
- on MongoDB, the documents and index keys examined by one request of each page right after
  its load (the database profiler, level 2, on for that request only).

Targets: at 100x every page but the search keeps >= 0.7x its 1x throughput on both
backends; import at 100x keeps >= 0.8x its 1x records/s with peak RSS <= 300 MB; a no-change
re-run takes <= 0.25x the first import's time at every scale. The machine's load average is
printed with each measurement: the CPUs may be shared.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from http.client import HTTPConnection
from pathlib import Path

from bench import harness
from bench.harness import HOST, PYTHON, ROOT, cpu_seconds, loadavg
from bench.synthetic_catalogue import DEFAULT_SEED, Catalogue

SCALES = (1, 10, 100)
PAGE_RATIO, IMPORT_RATIO, RSS_MB, RERUN_RATIO = 0.7, 0.8, 300, 0.25
PAGES = ("list first page", "list deep page", "search", "character", "comic", "home")
PAGES += ("admin search",)
SEARCH_PAGES = ("search", "admin search")

PICK = """
import json
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.test import Client
from characters.models import Character, CharacterComic, Comic
from characters.views import CharacterListView
total = Character.objects.count()
# The last pages the list serves (IndexedPaginator stops at max_pages).
pages = CharacterListView.paginator_class(Character.objects.ordered("name"), 24).num_pages
busiest = Character.objects.order_by("-comics_available", "id").first()
links = CharacterComic.objects
crowded = links.values("comic_id").annotate(n=Count("id")).order_by("-n", "comic_id")[0]
User = get_user_model()
admin = User.objects.filter(username="bench").first() or User.objects.create_superuser(
    "bench", "bench@example.com", None)
client = Client()
client.force_login(admin)
print(json.dumps({
    "characters": total,
    "comics": Comic.objects.count(),
    "links": links.count(),
    "deep_page": max(1, pages - 1),
    "pages": pages,
    "character": busiest.get_absolute_url(),
    "comic": Comic.objects.get(pk=crowded["comic_id"]).get_absolute_url(),
    "cast": crowded["n"],
    "session": client.cookies["sessionid"].value,
}))
"""


def manage(env: dict, *args: str) -> str:
    return harness.manage(env, *args, capture_output=True).stdout


def seed(env: dict, folder: Path, log: Path, mongod: int | None) -> dict:
    """The real seed_marvel in its own process: its --json counters, wall time, peak RSS, and
    the CPU time it and mongod spent (hardly moved by other processes on the machine)."""
    started = time.perf_counter()
    mongod_cpu = cpu_seconds([mongod] if mongod else [])
    with open(log, "a") as errors:
        process = subprocess.Popen(
            [PYTHON, "manage.py", "seed_marvel", "--path", str(folder), "--json", "-v0"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        out = process.stdout.read()
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"seed_marvel failed ({process.returncode}); see {log}")
    counters = harness.last_json(out)
    counters["wall"] = wall
    counters["rss_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    counters["cpu"] = usage.ru_utime + usage.ru_stime - startup_cpu()
    counters["cpu"] += cpu_seconds([mongod] if mongod else []) - mongod_cpu
    return counters


@functools.cache
def startup_cpu() -> float:
    """CPU time of seed_marvel's start-up alone (Django, imports; it stops at a missing path),
    taken off the import's: it does not grow with the catalogue."""
    env = harness.server_env()
    spent = []
    for _ in range(3):
        process = subprocess.Popen(
            [PYTHON, "manage.py", "seed_marvel", "--path", "/nonexistent", "-v0"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _pid, _status, usage = os.wait4(process.pid, 0)
        spent.append(usage.ru_utime + usage.ru_stime)
    return min(spent)


def profile_pages(uri: str, name: str, port: int, jobs) -> dict:
    """{page: (operations, documents examined, keys examined)} for one request of each page,
    from the MongoDB profiler (level 2 for that request only)."""
    from pymongo import MongoClient

    found = {}
    with MongoClient(uri) as client:
        db = client[name]
        for page, path, headers in jobs:
            db.command("profile", 0)
            db.drop_collection("system.profile")
            db.command("profile", 2)
            conn = HTTPConnection(HOST, port, timeout=60)
            conn.request("GET", path, headers={"Host": HOST, **(headers or {})})
            status = conn.getresponse()
            status.read()
            conn.close()
            db.command("profile", 0)
            ops = list(db["system.profile"].find({"command.profile": {"$exists": False}}))
            found[page] = (
                len(ops),
                sum(op.get("docsExamined", 0) for op in ops),
                sum(op.get("keysExamined", 0) for op in ops),
                status.status,
            )
    return found


def prepare(
    backend: str, scale: int, folder: Path, env: dict, workdir: Path, mongod: int | None
) -> dict:
    """Migrate, import, import again (no change); what the pages will ask for."""
    log = workdir / f"{backend}-{scale}.log"
    manage(env, "migrate", "--noinput", "-v0")
    first = seed(env, folder, log, mongod)
    rerun = seed(env, folder, log, mongod)
    info = harness.last_json(manage(env, "shell", "-c", PICK))
    print(
        f"  {backend} {scale}x: {info['characters']:,} characters, {info['comics']:,} comics, "
        f"{info['links']:,} links; import {first['seconds']:.1f}s (process {first['wall']:.1f}s,"
        f" peak RSS {first['rss_mb']:.0f} MB), re-run {rerun['seconds']:.1f}s; "
        f"load average {loadavg()}",
        flush=True,
    )
    cookie = {"Cookie": f"sessionid={info['session']}"}
    jobs = [
        ("baseline /healthz", "/healthz", None),
        ("list first page", "/characters/", None),
        ("list deep page", f"/characters/?page={info['deep_page']}", None),
        ("search", "/characters/?q=man", None),
        ("character", info["character"], None),
        ("comic", info["comic"], None),
        ("home", "/", None),
        ("admin search", "/admin/characters/character/?q=man", cookie),
    ]
    return {"env": env, "info": info, "first": first, "rerun": rerun, "jobs": jobs}


def measure_pages(prepared: dict, options, workdir: Path, mongod: int | None) -> None:
    """Serve every (backend, scale) at once, gunicorn as in the container, page cache off, and
    load them URL by URL, each in turn: a change in the machine's load during the run weighs
    on every scale alike. Adds "pages" (and on MongoDB "examined") to each prepared entry."""
    with contextlib.ExitStack() as servers:
        ports, pids = {}, {}
        for key, entry in prepared.items():
            served = {**entry["env"], "MARVELSITE_PAGE_CACHE_SECONDS": "0"}
            ports[key] = servers.enter_context(harness.serve(served, workdir))
            pids[key] = harness.server_pids(ports[key], mongod if key[0] == "mongodb" else None)
            entry["pages"], entry["examined"] = {}, {}
        before, started = loadavg(), time.perf_counter()
        for index in range(len(next(iter(prepared.values()))["jobs"])):
            for key, entry in prepared.items():
                name, path, headers = job = entry["jobs"][index]
                entry["pages"][name] = harness.measure(
                    ports[key], path, options, headers=headers, pids=pids[key]
                )
                if key[0] == "mongodb" and index:
                    # Right after the page's load, as it was served (the lists' counts are
                    # kept for MARVELSITE_COUNT_CACHE_SECONDS: minutes later, counted again).
                    env = entry["env"]
                    entry["examined"].update(
                        profile_pages(env["MONGODB_URI"], env["MONGODB_NAME"], ports[key], [job])
                    )
        print(
            f"pages: {time.perf_counter() - started:.0f}s of load, load average {before} "
            f"before, {loadavg()} after",
            flush=True,
        )
        for entry in prepared.values():
            entry["load"] = f"{before} -> {loadavg()}"


def table_row(rows, by_scale: dict, scales: list[int], label: str, get, fmt, relative=True):
    """A figure at each scale, with its ratio to the first scale's when `relative`."""
    cells = [fmt(get(by_scale[s])) for s in scales]
    for index, s in enumerate(scales[1:], 1):
        if relative:
            cells[index] += f" ({harness.ratio(get(by_scale[s]), get(by_scale[scales[0]])):.2f}x)"
    rows.append([label, *cells])


def report(results: dict, scales: list[int]) -> list[str]:
    """One table per backend: a row per figure, a column per scale with its ratio to 1x."""
    missed = []
    for backend, by_scale in results.items():
        base = by_scale[scales[0]]
        print(f"\n== {backend}")
        rows = [["figure", *(f"{s}x" for s in scales)]]
        row = functools.partial(table_row, rows, by_scale, scales)
        count = lambda key: lambda r: r["info"][key]  # noqa: E731
        row("characters", count("characters"), "{:,}".format)
        row("comics", count("comics"), "{:,}".format)
        row("links", count("links"), "{:,}".format)
        row("import s", lambda r: r["first"]["seconds"], "{:.1f}".format)
        row(
            "records/s (characters)",
            lambda r: r["info"]["characters"] / r["first"]["seconds"],
            "{:,.0f}".format,
        )
        row("import CPU s (seed_marvel + mongod)", lambda r: r["first"]["cpu"], "{:.1f}".format)
        row(
            "records/s of CPU",
            lambda r: r["info"]["characters"] / r["first"]["cpu"],
            "{:,.0f}".format,
        )
        row("import peak RSS MB", lambda r: r["first"]["rss_mb"], "{:.0f}".format)
        row("no-change re-run s", lambda r: r["rerun"]["seconds"], "{:.2f}".format)
        row("no-change re-run CPU s", lambda r: r["rerun"]["cpu"], "{:.2f}".format)
        row(
            "re-run / first import",
            lambda r: r["rerun"]["seconds"] / r["first"]["seconds"],
            "{:.2f}".format,
            relative=False,
        )
        row(
            "re-run writes",
            lambda r: sum(
                r["rerun"][k]
                for k in r["rerun"]
                if k.endswith(("_created", "_updated", "_deleted"))
            ),
            str,
            relative=False,
        )
        for page in PAGES:
            row(f"{page} req/s", lambda r, p=page: r["pages"][p]["rps"], "{:.1f}".format)
            row(f"{page} p95 ms", lambda r, p=page: r["pages"][p]["p95"], "{:.0f}".format)
            row(
                f"{page} server CPU ms/req",
                lambda r, p=page: r["pages"][p]["cpu_ms"],
                "{:.1f}".format,
            )
        row("/healthz req/s", lambda r: r["pages"]["baseline /healthz"]["rps"], "{:.0f}".format)
        row(
            "errors",
            lambda r: sum(p["errors"] for p in r["pages"].values()),
            str,
            relative=False,
        )
        if backend == "mongodb":
            for page in PAGES:
                row(
                    f"{page} docs / keys examined",
                    lambda r, p=page: r["examined"][p][1:3],
                    lambda v: f"{v[0]:,} / {v[1]:,}",
                    relative=False,
                )
        rows.append(["load average (1/5/15 min)", *(by_scale[s]["load"] for s in scales)])
        harness.print_table(rows)

        # Targets, at the largest scale measured against 1x.
        top = by_scale[scales[-1]]
        checks = []
        for page in PAGES:
            if page in SEARCH_PAGES:
                continue
            share = top["pages"][page]["rps"] / base["pages"][page]["rps"]
            checks.append((f"{page} {share:.2f}x", share >= PAGE_RATIO))
        speed = (top["info"]["characters"] / top["first"]["seconds"]) / (
            base["info"]["characters"] / base["first"]["seconds"]
        )
        checks.append((f"import records/s {speed:.2f}x (>= {IMPORT_RATIO})", speed >= IMPORT_RATIO))
        rss = top["first"]["rss_mb"]
        checks.append((f"peak RSS {rss:.0f} MB (<= {RSS_MB})", rss <= RSS_MB))
        for s in scales:
            share = by_scale[s]["rerun"]["seconds"] / by_scale[s]["first"]["seconds"]
            checks.append((f"re-run {s}x {share:.2f} (<= {RERUN_RATIO})", share <= RERUN_RATIO))
        print(f"targets at {scales[-1]}x vs 1x (pages >= {PAGE_RATIO}x, search exempt):")
        for text, met in checks:
            print(f"  {text}: {'met' if met else 'MISSED'}")
            if not met:
                missed.append(f"{backend}: {text}")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_backends(parser)
    parser.add_argument(
        "--max-scale", type=int, choices=SCALES, default=10, help="1, 10 (default) or 100"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="catalogue seed (13)")
    harness.add_load(parser, requests=400, max_seconds=6.0, warmup=5)
    parser.add_argument(
        "--mongo-cache-gb", type=float, default=1.0, help="mongod's WiredTiger cache (1 GB)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    options = parser.parse_args()
    backends = options.backends
    scales = [s for s in SCALES if s <= options.max_scale]

    run_started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    env = harness.server_env(MARVELSITE_OTP_REQUIRED="off")
    print(
        f"bench.scale: scales {', '.join(f'{s}x' for s in scales)}, seed {options.seed}, "
        f"backends {', '.join(backends)}; {os.cpu_count()} CPUs shared by all; load average "
        f"{loadavg()}; pages: gunicorn as in the container, page cache off, counts kept, "
        f"{options.concurrency} clients, {options.requests} requests or {options.max_seconds:g}s"
        " per URL",
        flush=True,
    )
    results: dict = {backend: {} for backend in backends}
    try:
        with contextlib.ExitStack() as stack:
            envs, replica_set = harness.databases(
                stack, backends, env, workdir, "bench_scale", cache_gb=options.mongo_cache_gb
            )
            mongod = None
            if replica_set:
                mongod = replica_set.processes[0].pid
                print(
                    f"MongoDB: 1-member replica set at {replica_set.uri}, "
                    f"cache {options.mongo_cache_gb} GB"
                )
            manage(env | {"MARVELSITE_DATA_DIR": str(workdir)}, "collectstatic", "--noinput")
            prepared = {}
            for scale in scales:
                started = time.perf_counter()
                folder = workdir / f"catalogue-{scale}"
                catalogue = Catalogue(scale, options.seed)
                files = catalogue.write(folder)
                print(
                    f"{scale}x: catalogue of {catalogue.characters:,} characters, "
                    f"{catalogue.comics:,} comics, {catalogue.links:,} links written in "
                    f"{time.perf_counter() - started:.1f}s ({len(files)} files)",
                    flush=True,
                )
                for backend in backends:
                    data_dir = workdir / f"{backend}-{scale}"
                    data_dir.mkdir()
                    backend_env = {**envs[backend], "MARVELSITE_DATA_DIR": str(data_dir)}
                    if backend == "mongodb":
                        backend_env["MONGODB_NAME"] = f"bench_scale_{scale}"
                    prepared[backend, scale] = prepare(
                        backend, scale, folder, backend_env, workdir, mongod
                    )
                shutil.rmtree(folder, ignore_errors=True)
            measure_pages(prepared, options, workdir, mongod)
            for (backend, scale), entry in prepared.items():
                results[backend][scale] = entry
        missed = report(results, scales)
        print(
            f"\nrun time {time.perf_counter() - run_started:.0f}s; load average {loadavg()}; "
            f"{len(missed)} target(s) missed"
        )
        return 0
    finally:
        if options.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
