"""Benchmark the public pages as served in production, on SQLite and MongoDB side by side.

For each backend (``--backends``, default both) a throw-away database (SQLite in a temporary
directory; MongoDB a 1-member replica set on loopback, stopped by pid at the end) gets the same
preparation (migrate, ``seed_marvel`` with the bundled data set, collectstatic) and is served
by gunicorn as the container does, every backend at once; a bounded load from a second process
(keep-alive HTTP/1.1, one connection per client thread) goes to the same URLs, URL by URL and
one backend at a time, so that drift in the machine's load weighs on both alike:

    /healthz (the baseline: no database; first and last, the mean of both), a static file, /,
    a list page deep in pagination and one in the middle (the farthest from either end), a
    search, a character page and a comic page (picked on the first backend, checked to be the
    same on the others).

For each: requests/s, p50/p95 latency, throughput as a ratio of /healthz on the same server,
errors (anything but a 200), the server's CPU time per request (gunicorn and mongod, from
/proc), and "mongodb / sqlite" ratios of throughput and CPU per request. All of it twice: page
cache on (the default) and off (every page rendered; the lists' counts kept per catalogue
version), each against fresh gunicorns. Also the database commands per request of each page,
cached and uncached: counted in a process of its own, and on MongoDB from mongod's opcounters
under the load.

Targets: cached pages make 0 database commands (a change stream's getMore and SQLite's
``PRAGMA data_version`` aside) and reach >= 0.6x /healthz; uncached server CPU per request at
most list 9 ms, comic 11 ms, character 4 ms on SQLite and 1.2x that on MongoDB; uncached
MongoDB throughput >= 0.9x SQLite's, p95 < 100 ms at concurrency 8. Exit status 1 when any
request failed.

    .venv/bin/python -m bench.pages [--backends sqlite,mongodb] [--concurrency 8]
        [--requests 2000] [--max-seconds 20]
"""

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench import harness
from bench.harness import HOST, ratio, verdict

# Uncached: MongoDB >= this x SQLite's throughput, p95 below this; cached: >= this x /healthz.
UNCACHED_RATIO, P95_MS, CACHED_RATIO = 0.9, 100.0, 0.6
# Uncached server CPU per request on SQLite (ms), and MongoDB's allowance over it.
CPU_MS = {"list deep page": 9.0, "comic": 11.0, "character": 4.0}
CPU_MONGODB = 1.2
UNCACHED_PAGES = ("home /", "list deep page", "list middle page", "search", "character", "comic")
CACHED_PAGES = ("list deep page", "search", "character", "comic")
# Must be the same on every backend (same data set, same ordering rules).
PICKED = ("characters", "comics", "links", "deep_page", "middle_page", "character", "comic")
MODES = (
    ("page cache on (the default, MARVELSITE_PAGE_CACHE_SECONDS=60)", "60"),
    ("page cache off (MARVELSITE_PAGE_CACHE_SECONDS=0): pages rendered, counts kept", "0"),
)

# Database commands per request, counted in a process of its own on the same settings and data:
# the Django test client through the whole middleware stack; pymongo's command monitoring on
# MongoDB (a change stream's getMore apart), sqlite3's trace callback on SQLite (every
# statement; PRAGMAs such as data_version apart). Argument: {"page name": "url", ...}.
COUNT_COMMANDS = """
import json, sys
import django
from pymongo import monitoring

counts = {"commands": 0, "getmores": 0, "pragmas": 0}


class Counter(monitoring.CommandListener):
    def started(self, event):
        counts["getmores" if event.command_name == "getMore" else "commands"] += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


monitoring.register(Counter())  # before the first client is made
django.setup()
from django.db import connection
from django.db.backends.signals import connection_created
from django.test import Client
from django.test.utils import override_settings


def trace(connection, **kwargs):
    if connection.vendor == "sqlite":
        connection.connection.set_trace_callback(count_statement)


def count_statement(sql):
    counts["pragmas" if sql.lstrip()[:6].upper() == "PRAGMA" else "commands"] += 1


connection_created.connect(trace)
try:  # MongoDB: the watcher follows before anything is counted
    from characters.catalogue_version import settle
except ImportError:  # code without it: the version is read on every request
    settle = lambda: None
settle()
client = Client(SERVER_NAME="127.0.0.1")
figures, times = {}, int(sys.argv[2])
for name, url in json.loads(sys.argv[1]).items():
    for mode, seconds in (("uncached", 0), ("cached", 60)):
        with override_settings(PAGE_CACHE_SECONDS=seconds):
            assert client.get(url).status_code == 200, url  # warm: kept counts, the cache
            before = dict(counts)
            for _ in range(times):
                assert client.get(url).status_code == 200, url
        figures.setdefault(name, {})[mode] = (counts["commands"] - before["commands"]) / times
        figures[name][mode + "_getmores"] = (counts["getmores"] - before["getmores"]) / times
        figures[name][mode + "_pragmas"] = (counts["pragmas"] - before["pragmas"]) / times
print(json.dumps(figures))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_backends(parser)
    harness.add_load(parser, requests=2000, max_seconds=20.0, warmup=10)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    parser.add_argument(
        "--screenshots",
        metavar="DIR",
        help="also save home.png and character.png of the seeded site there, one folder per "
        "backend (Debian Chromium)",
    )
    options = parser.parse_args()
    backends = options.backends
    workdir = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    env = harness.server_env()
    status = 0
    try:
        with contextlib.ExitStack() as stack:
            envs, replica_set = harness.databases(stack, backends, env, workdir, "bench_pages")
            mongod = replica_set.processes[0].pid if replica_set else None
            infos = {}
            for backend in backends:
                infos[backend] = info = harness.prepare_site(envs[backend])
                print(
                    f"data on {backend}: {info['characters']} characters, {info['comics']} "
                    f"comics, {info['links']} links (seeded in {info['seed_seconds']:.1f}s)"
                    + (f"; {info['server']}" if info["server"] else "")
                )
            info = infos[backends[0]]
            for backend in backends[1:]:
                if differs := [k for k in PICKED if infos[backend][k] != info[k]]:
                    print(
                        f"note: {backend} would pick other URLs for {', '.join(differs)}; "
                        f"measuring {backends[0]}'s on every backend"
                    )
            jobs = [
                ("baseline /healthz", "/healthz"),
                ("static file", info["static"]),
                ("home /", "/"),
                ("list deep page", f"/characters/?page={info['deep_page']}"),
                # The costliest page to read: as far from the end as from the start.
                ("list middle page", f"/characters/?page={info['middle_page']}"),
                ("search", "/characters/?q=man"),
                ("character", info["character"]),
                ("comic", info["comic"]),
                # Again at the end: the baseline is the mean of both, so drift during the run
                # (other processes on the machine, worker warm-up) weighs on both sides alike.
                ("baseline again", "/healthz"),
            ]
            urls = {name: path for name, path in jobs if name in UNCACHED_PAGES}
            counted = {backend: count_commands(envs[backend], urls) for backend in backends}
            print()
            report_commands(counted)
            print(
                f"server: {harness.describe_server(env)} per backend, loaded one URL on one "
                f"backend at a time; load: {options.concurrency} keep-alive clients in a second "
                f"process, {options.requests} requests per URL (max {options.max_seconds:.0f}s)"
                f", {os.cpu_count()} CPUs shared by all"
            )
            for title, seconds in MODES:
                results = {backend: {} for backend in backends}
                with contextlib.ExitStack() as servers:
                    ports, pids = {}, {}
                    for backend in backends:
                        served = {**envs[backend], "MARVELSITE_PAGE_CACHE_SECONDS": seconds}
                        ports[backend] = servers.enter_context(harness.serve(served, workdir))
                        pids[backend] = harness.server_pids(ports[backend], mongod)
                    for name, path in jobs:
                        for backend in backends:
                            uri = envs[backend].get("MONGODB_URI")
                            sent = opcounters(uri)
                            figures = harness.measure(
                                ports[backend],
                                path,
                                options,
                                pids=pids[backend],
                                database_pid=mongod if backend == "mongodb" else None,
                            )
                            figures["path"] = path
                            figures["opcounters"] = opcounters(uri, sent)
                            results[backend][name] = figures
                    if options.screenshots and seconds != "0":
                        for backend in backends:
                            folder = Path(options.screenshots) / backend
                            screenshots(ports[backend], info["showcase"], folder)
                print(f"\n== {title}")
                status |= report(results, options.warmup, cached=seconds != "0")
        return status
    finally:
        if options.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def count_commands(env: dict, urls: dict, times: int = 20) -> dict:
    """{page: {"uncached": commands per request, "cached": ..., "..._getmores": ...}}."""
    env = {**env, "DJANGO_SETTINGS_MODULE": "marvelsite.settings"}
    args = [harness.PYTHON, "-c", COUNT_COMMANDS, json.dumps(urls), str(times)]
    return harness.last_json(harness.run(args, env, capture_output=True).stdout)


def report_commands(counted: dict) -> None:
    print(
        "database commands per request (in-process: the test client, 20 requests per page; "
        "a change stream's getMore and SQLite's PRAGMAs (data_version) apart)"
    )
    rows = [["page"] + [f"{b} {mode}" for b in counted for mode in ("uncached", "cached")]]
    for name in next(iter(counted.values())):
        row = [name]
        for backend in counted:
            f = counted[backend][name]
            cached = f"{f['cached']:.2f}"
            if f.get("cached_getmores"):
                cached += f" (+{f['cached_getmores']:.2f} getMore)"
            if f.get("cached_pragmas"):
                cached += f" (+{f['cached_pragmas']:.2f} PRAGMA)"
            row += [f"{f['uncached']:.2f}", cached]
        rows.append(row)
    harness.print_table(rows)
    for backend in counted:
        sent = [f["cached"] for n, f in counted[backend].items() if n in CACHED_PAGES]
        print(
            f"  target {backend}: a cached hit makes 0 database commands -> "
            f"{verdict(not any(sent))}"
        )


def opcounters(uri: str | None, before: dict | None = None) -> dict | None:
    """mongod's operation counters (serverStatus), or their change since `before` less the
    serverStatus that measured it."""
    if uri is None:
        return None
    from pymongo import MongoClient

    with MongoClient(uri) as client:
        counters = dict(client.admin.command("serverStatus")["opcounters"])
    if before is None:
        return counters
    change = {key: counters[key] - before[key] for key in counters}
    change["command"] -= 1  # the first serverStatus (the second is not counted in its own)
    return change


def screenshots(port: int, character_url: str, folder: Path) -> None:
    """The home and a character page as a visitor sees them (the Marvel CDN is unreachable
    here, so images show the local placeholder, as they would for a blocked CDN)."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    args += ["--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
    base = f"http://{HOST}:{port}"
    folder.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.route(
            "**/*",
            lambda route: (
                route.continue_() if route.request.url.startswith(base) else route.abort()
            ),
        )
        page = context.new_page()
        for name, path in (("home", "/"), ("character", character_url)):
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=folder / f"{name}.png", full_page=True)
            print(f"screenshot: {folder / f'{name}.png'} ({path})")
        browser.close()


def with_ratios(figures: dict, warmup: int) -> dict:
    """Adds throughput as a ratio of /healthz (the mean of its first and last runs against the
    same server) and, on MongoDB, what the server was sent per request."""
    healthz = statistics.mean(f["rps"] for f in figures.values() if f["path"] == "/healthz")
    for f in figures.values():
        f["x_healthz"] = ratio(f["rps"], healthz)
        if counters := f["opcounters"]:
            requests = f["count"] + warmup
            f["db_commands"] = sum(v for k, v in counters.items() if k != "getmore") / requests
            f["getmores"] = counters.get("getmore", 0) / requests
    return figures


def report(results: dict, warmup: int, *, cached: bool) -> int:
    """One line per URL, a column group per backend and mongodb / sqlite ratios; then the
    targets, met or missed. Returns 1 when any request failed."""
    figures = {backend: with_ratios(found, warmup) for backend, found in results.items()}
    backends = list(figures)
    both = backends == ["sqlite", "mongodb"]
    columns = ("req/s", "p50 ms", "p95 ms", "x healthz", "errors", "CPU ms")
    rows = [["page", "path"] + [f"{b} {c}" if not i else c for b in backends
                                for i, c in enumerate(columns)]]  # fmt: skip
    rows[0] += ["mongodb / sqlite req/s", "CPU"] if both else []
    for name, f in figures[backends[0]].items():
        row = [name, f["path"] if len(f["path"]) <= 34 else f["path"][:31] + "..."]
        for backend in backends:
            g = figures[backend][name]
            row += [f"{g['rps']:.1f}", f"{g['p50']:.1f}", f"{g['p95']:.1f}"]
            row += [f"{g['x_healthz']:.2f}", g["errors"], f"{g['cpu_ms']:.1f}"]
        if both:
            sqlite, mongodb = figures["sqlite"][name], figures["mongodb"][name]
            row += [f"{ratio(mongodb['rps'], sqlite['rps']):.2f}"]
            row += [f"{ratio(mongodb['cpu_ms'], sqlite['cpu_ms']):.2f}"]
        rows.append(row)
    harness.print_table(rows, left=2)
    if "mongodb" in figures:
        sent = "; ".join(
            f"{name} {g['db_commands']:.2f} (+{g['getmores']:.2f} getMore)"
            for name, g in figures["mongodb"].items()
            if g["path"] != "/healthz"
        )
        print(f"mongod's opcounters per request under this load: {sent}")
    total_errors = sum(g["errors"] for f in figures.values() for g in f.values())
    print("targets:")
    if cached:
        for backend in backends:
            verdicts = []
            for name in CACHED_PAGES:
                g = figures[backend][name]
                missed = "" if g["x_healthz"] >= CACHED_RATIO else " MISSED"
                verdicts.append(f"{name} {g['x_healthz']:.2f}x{missed}")
            print(f"  {backend}: cached pages >= {CACHED_RATIO}x /healthz: " + "; ".join(verdicts))
    else:
        for name, limit in CPU_MS.items():
            verdicts = []
            for backend in backends:
                allowed = limit * (CPU_MONGODB if backend == "mongodb" else 1)
                g = figures[backend][name]
                missed = "" if g["cpu_ms"] <= allowed else " MISSED"
                verdicts.append(f"{backend} {g['cpu_ms']:.1f} <= {allowed:.1f}{missed}")
            print(f"  uncached {name}, server CPU ms per request: " + "; ".join(verdicts))
    if not cached and both:
        # mongod shares this machine's CPUs with the site; in the cluster it has nodes of its
        # own, and a frontend pod pays for gunicorn's share only.
        shares = []
        for name in UNCACHED_PAGES:
            sqlite, mongodb = figures["sqlite"][name], figures["mongodb"][name]
            database = mongodb.get("database_cpu_ms", 0.0)
            frontend = mongodb["cpu_ms"] - database
            shares.append(
                f"{name} {sqlite['cpu_ms']:.1f} / {frontend:.1f} + mongod {database:.1f} "
                f"({ratio(sqlite['cpu_ms'], frontend):.2f})"
            )
        print(
            "uncached server CPU ms per request, sqlite / mongodb's gunicorn + mongod "
            "(sqlite / gunicorn alone, as in the cluster): " + "; ".join(shares)
        )
    if not cached and "mongodb" in figures:
        for name in UNCACHED_PAGES:
            g = figures["mongodb"][name]
            checks = [f"p95 {g['p95']:.1f} ms", f"{g['errors']} errors"]
            met = g["p95"] < P95_MS and g["errors"] == 0
            if "sqlite" in figures:
                share = ratio(g["rps"], figures["sqlite"][name]["rps"])
                checks.insert(0, f"{share:.2f}x sqlite's req/s")
                met = met and share >= UNCACHED_RATIO
            print(
                f"  mongodb, uncached {name}: >= {UNCACHED_RATIO}x sqlite, p95 < {P95_MS:.0f} ms,"
                f" 0 errors: {', '.join(checks)} -> {verdict(met)}"
            )
    print(f"  errors, all backends: {total_errors}")
    return 1 if total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
