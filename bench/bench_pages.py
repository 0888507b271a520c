#!/usr/bin/env python3
"""Benchmark the public pages as served in production, on SQLite and MongoDB side by side.

For each backend (``--backends sqlite,mongodb``, default both) sets up a throw-away database:
SQLite in a temporary directory; MongoDB as a 1-member replica set on loopback (mongod 6.0.5
from scripts/local_mongo.py, started for the run, stopped by pid and deleted at the end).
Each gets the same preparation (migrate + `seed_marvel` with the bundled data set +
collectstatic), then is served by gunicorn exactly as the container does (`gunicorn -c
python:marvelsite.gunicorn_conf marvelsite.wsgi`, 2 workers x 4 threads unless GUNICORN_* say
otherwise) on 127.0.0.1, all backends at once, and a bounded load from a second process
(keep-alive HTTP/1.1 connections, one per client thread) goes to the same URLs on each, URL by
URL and one backend at a time, so that drift in the machine's load weighs on both alike:

    /healthz (the baseline: answered by the first middleware, no database), a static file,
    /, a list page deep in pagination, a search, a character page and a comic page
    (the character, comic and deep page are picked on the first backend and checked to be
    the same on the others).

For each: requests/s, p50/p95 latency, throughput as a ratio of /healthz measured in the same
run against the same server, the error count (anything but a 200), the server's CPU time per
request (gunicorn's processes and mongod, from /proc: unlike throughput, hardly moved by other
work on the machine), and each figure beside the same page's on the other backend with
"mongodb / sqlite" ratios of throughput and of CPU per request. The whole set
runs twice: with the page cache on (production's default) and off (every page rendered from
the database; the lists' counts kept per catalogue version, as by default), each against its
own fresh gunicorn.

Also the database commands per request of each page, cached and uncached, on each backend:
counted in a process of its own (COUNT_COMMANDS), and on MongoDB from mongod's opcounters
under the load.

Targets: cached pages (list, search, character, comic; the home page is never cached) make 0
database commands (a change stream's getMore aside; on SQLite a `PRAGMA data_version`) and
reach >= 0.6x /healthz on both backends; uncached server CPU per request at most list 9 ms,
comic 11 ms, character 4 ms on SQLite and 1.2x that on MongoDB; uncached MongoDB throughput
>= 0.9x SQLite's on every page, p95 < 100 ms at concurrency 8, 0 errors. Exit status 1 when
any request failed.

    .venv/bin/python bench/bench_pages.py [--backends sqlite,mongodb] [--concurrency 8]
        [--requests 2000] [--max-seconds 20]

Load goes to 127.0.0.1 only; every loop is bounded by a request count and a time limit.
"""

import argparse
import contextlib
import json
import multiprocessing
import os
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
HOST = "127.0.0.1"
BACKENDS = ("sqlite", "mongodb")
MONGODB_NAME = "bench_pages"
# Uncached: MongoDB >= this x SQLite's throughput, p95 below this; cached: >= this x /healthz.
UNCACHED_RATIO, P95_MS, CACHED_RATIO = 0.9, 100.0, 0.6
# Uncached server CPU per request on SQLite (ms), and MongoDB's allowance over it.
CPU_MS = {"list deep page": 9.0, "comic": 11.0, "character": 4.0}
CPU_MONGODB = 1.2
UNCACHED_PAGES = ("home /", "list deep page", "search", "character", "comic")
CACHED_PAGES = ("list deep page", "search", "character", "comic")

PICK_URLS = """
import json
from django.templatetags.static import static
from characters.models import Character, Comic
from characters.views import CharacterListView
total = Character.objects.count()
pages = max(1, -(-total // CharacterListView.paginate_by))
busiest = Character.objects.order_by("-comics_available", "id").first()
through = Character.comics.through
from django.db import connection
from django.db.models import Count
by_cast = through.objects.values("comic_id").annotate(n=Count("id")).order_by("-n", "comic_id")
comic_id = by_cast[0]["comic_id"]
print(json.dumps({
    "characters": total,
    "comics": Comic.objects.count(),
    "links": through.objects.count(),
    "deep_page": max(1, pages - 1),
    "character": busiest.get_absolute_url(),
    "comic": Comic.objects.get(pk=comic_id).get_absolute_url(),
    "static": static("css/site.css"),
    "showcase": (
        Character.objects.filter(name="Spider-Man").first() or busiest
    ).get_absolute_url(),
    "server": (
        "mongod " + ".".join(map(str, connection.get_database_version()[:3]))
        + ", 1-member replica set on loopback"
        if connection.vendor == "mongodb" else ""
    ),
}))
"""
# Must be the same on every backend (same data set, same ordering rules).
PICKED = ("characters", "comics", "links", "deep_page", "character", "comic")

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
COMMAND_PAGES = ("home /", "list deep page", "search", "character", "comic")


def server_env(**settings: str) -> dict:
    """This process's environment without the site's own settings (so the caller's database or
    keys never leak in), plus a throw-away local production-like server's, plus `settings`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MONGO", "DJANGO_", "MARVEL", "GUNICORN_BIND", "OFFSET"))
    }
    return env | {
        "DJANGO_SECRET_KEY": "bench-only-not-secret",
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        **settings,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def run(args, env, **kwargs):
    return subprocess.run(args, env=env, cwd=ROOT, check=True, text=True, **kwargs)


def prepare(env: dict) -> dict:
    manage = [PYTHON, "manage.py"]
    run([*manage, "migrate", "--noinput", "-v0"], env)
    t0 = time.perf_counter()
    # The bundled data set (characters/data/), whatever MARVEL_* keys the caller has.
    run([*manage, "seed_marvel", "--source", "file"], env, stdout=subprocess.DEVNULL)
    seeded = time.perf_counter() - t0
    run([*manage, "collectstatic", "--noinput", "-v0"], env)
    out = run([*manage, "shell", "-c", PICK_URLS], env, capture_output=True).stdout
    info = json.loads(out.strip().splitlines()[-1])
    info["seed_seconds"] = seeded
    return info


def wait_ready(port: int, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            conn = HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer /healthz on {HOST}:{port} within {limit:.0f}s")


# --- the load generator (runs in its own process) -------------------------------------------


def drive(port, path, concurrency, total, max_seconds, warmup, headers=None):
    """`total` GETs of `path` from `concurrency` keep-alive clients; returns latencies, errors.
    `headers` are sent with every request (e.g. a session cookie)."""
    headers = {"Host": HOST, **(headers or {})}
    lock = threading.Lock()
    issued = 0
    latencies, errors = [], []
    deadline = [0.0]

    def client():
        nonlocal issued
        conn = HTTPConnection(HOST, port, timeout=10)
        while True:
            with lock:
                if issued >= total or time.perf_counter() > deadline[0]:
                    break
                issued += 1
            start = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except OSError as exc:
                ok, response = False, exc
                conn.close()
                conn = HTTPConnection(HOST, port, timeout=10)
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                if not ok:
                    errors.append(getattr(response, "status", repr(response)))
        conn.close()

    for _ in range(warmup):  # fill caches and connection pools first; not measured
        conn = HTTPConnection(HOST, port, timeout=10)
        conn.request("GET", path, headers=headers)
        conn.getresponse().read()
        conn.close()
    deadline[0] = time.perf_counter() + max_seconds
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    return {"latencies": latencies, "errors": errors, "wall": wall}


def load_process(port, jobs, concurrency, total, max_seconds, warmup, results):
    for name, path, *headers in jobs:  # (name, path) or (name, path, headers)
        figures = drive(port, path, concurrency, total, max_seconds, warmup, *headers)
        results.put((name, path, figures))
    results.put(None)


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help="comma-separated: sqlite,mongodb (default)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    parser.add_argument(
        "--requests", type=int, default=2000, help="requests per URL (default 2000)"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=20.0, help="time limit per URL (default 20)"
    )
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured requests per URL")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    parser.add_argument(
        "--screenshots",
        metavar="DIR",
        help="also save home.png and character.png of the seeded site there, one folder per "
        "backend (Debian Chromium)",
    )
    options = parser.parse_args()
    backends = [name.strip() for name in options.backends.split(",") if name.strip()]
    if unknown := set(backends) - set(BACKENDS):
        parser.error(f"unknown backend(s) {sorted(unknown)}; choose from {', '.join(BACKENDS)}")

    workdir = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    env = server_env()
    status = 0
    try:
        with contextlib.ExitStack() as stack:
            envs, infos, mongods, mongo_uris = {}, {}, {}, {}
            for backend in backends:
                data_dir = workdir / backend
                data_dir.mkdir()
                envs[backend] = {**env, "MARVELSITE_DATA_DIR": str(data_dir)}
                if backend == "mongodb":
                    replica_set = stack.enter_context(start_mongodb())
                    envs[backend].update(MONGODB_URI=replica_set.uri, MONGODB_NAME=MONGODB_NAME)
                    mongods[backend] = replica_set.processes[0].pid
                    mongo_uris[backend] = replica_set.uri
                infos[backend] = prepare(envs[backend])
                info = infos[backend]
                print(
                    f"data on {backend}: {info['characters']} characters, {info['comics']} "
                    f"comics, {info['links']} links (seeded in {info['seed_seconds']:.1f}s)"
                    + (f"; {info['server']}" if info.get("server") else "")
                )
            info = infos[backends[0]]
            for backend in backends[1:]:
                differs = [k for k in PICKED if infos[backend][k] != info[k]]
                if differs:
                    print(
                        f"note: {backend} would pick other URLs for {', '.join(differs)}; "
                        f"measuring {backends[0]}'s on every backend"
                    )
            jobs = [
                ("baseline /healthz", "/healthz"),
                ("static file", info["static"]),
                ("home /", "/"),
                ("list deep page", f"/characters/?page={info['deep_page']}"),
                ("search", "/characters/?q=man"),
                ("character", info["character"]),
                ("comic", info["comic"]),
                # Again at the end: the baseline is the mean of both, so drift during the run
                # (other processes on the machine, worker warm-up) weighs on both sides alike.
                ("baseline again", "/healthz"),
            ]
            urls = {name: path for name, path in jobs if name in COMMAND_PAGES}
            counted = {backend: count_commands(envs[backend], urls) for backend in backends}
            print()
            report_commands(counted)
            print(
                f"server: gunicorn {env.get('GUNICORN_WORKERS', '2')} workers x "
                f"{env.get('GUNICORN_THREADS', '4')} threads per backend on {HOST}, loaded one "
                f"URL on one backend at a time; "
                f"load: {options.concurrency} keep-alive clients in a second process, "
                f"{options.requests} requests per URL (max {options.max_seconds:.0f}s), "
                f"{os.cpu_count()} CPUs shared by all"
            )
            modes = [
                ("page cache on (the default, MARVELSITE_PAGE_CACHE_SECONDS=60)", "60"),
                (
                    "page cache off (MARVELSITE_PAGE_CACHE_SECONDS=0): pages rendered, counts kept",
                    "0",
                ),
            ]
            for title, seconds in modes:
                results = {backend: [] for backend in backends}
                with contextlib.ExitStack() as servers:
                    ports = {
                        backend: servers.enter_context(
                            serve(
                                {**envs[backend], "MARVELSITE_PAGE_CACHE_SECONDS": seconds}, workdir
                            )
                        )
                        for backend in backends
                    }
                    pids = {
                        backend: server_pids(ports[backend], mongods.get(backend))
                        for backend in backends
                    }
                    # URL by URL, each backend in turn: a change in the machine's load during
                    # the run weighs on both sides of the ratio alike.
                    for job in jobs:
                        for backend in backends:
                            spent = cpu_seconds(pids[backend])
                            sent = opcounters(mongo_uris.get(backend))
                            (row,) = load(ports[backend], [job], options)
                            row[2]["cpu_seconds"] = cpu_seconds(pids[backend]) - spent
                            row[2]["opcounters"] = opcounters(mongo_uris.get(backend), sent)
                            row[2]["warmup"] = options.warmup
                            results[backend].append(row)
                    if options.screenshots and seconds == "60":
                        for backend in backends:
                            folder = Path(options.screenshots) / backend
                            screenshots(ports[backend], info["showcase"], folder)
                print(f"\n== {title}")
                status |= report(results, cached=seconds != "0")
        return status
    finally:
        if options.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def count_commands(env: dict, urls: dict, times: int = 20) -> dict:
    """{page: {"uncached": commands per request, "cached": ..., "..._getmores": ...}}."""
    env = {**env, "DJANGO_SETTINGS_MODULE": "marvelsite.settings"}
    result = run([PYTHON, "-c", COUNT_COMMANDS, json.dumps(urls), str(times)], env,
                 capture_output=True)  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def report_commands(counted: dict) -> None:
    print(
        "database commands per request (in-process: the test client, 20 requests per page; "
        "a change stream's getMore and SQLite's PRAGMAs (data_version) apart)"
    )
    backends = list(counted)
    print(
        f"{'page':<18}" + "".join(f" | {b + ' uncached':>17} {b + ' cached':>15}" for b in backends)
    )
    for name in next(iter(counted.values())):
        line = f"{name:<18}"
        for backend in backends:
            f = counted[backend][name]
            cached = f"{f['cached']:.2f}"
            if f.get("cached_getmores"):
                cached += f" (+{f['cached_getmores']:.2f} getMore)"
            if f.get("cached_pragmas"):
                cached += f" (+{f['cached_pragmas']:.2f} PRAGMA)"
            line += f" | {f['uncached']:>17.2f} {cached:>15}"
        print(line)
    for backend in backends:
        sent = {n: f["cached"] for n, f in counted[backend].items() if n in CACHED_PAGES}
        verdict = "met" if not any(sent.values()) else "MISSED"
        print(f"  target {backend}: a cached hit makes 0 database commands -> {verdict}")


def opcounters(uri: str | None, before: dict | None = None) -> dict | None:
    """mongod's operation counters (serverStatus), or their change since `before` less the
    two serverStatus commands that measured it."""
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


def start_mongodb():
    """A throw-away 1-member replica set (scripts/local_mongo.py); a context manager whose exit
    stops its mongod by pid and deletes its data."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from local_mongo import ReplicaSet

    return ReplicaSet(members=1)


@contextlib.contextmanager
def serve(env: dict, workdir: Path):
    """gunicorn as in the container, on a free loopback port; stopped (SIGTERM) on exit."""
    port = free_port()
    env = {**env, "GUNICORN_BIND": f"{HOST}:{port}"}
    with open(workdir / f"gunicorn-{port}.log", "w") as log:
        server = subprocess.Popen(
            [GUNICORN, "-c", "python:marvelsite.gunicorn_conf", "marvelsite.wsgi"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_ready(port)
            yield port
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def server_pids(port: int, mongod: int | None) -> list[int]:
    """gunicorn's master and workers (found by the bind address in their environment) and
    mongod: the processes whose CPU time a page costs."""
    bind = f"GUNICORN_BIND={HOST}:{port}".encode()
    pids = [mongod] if mongod else []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if bind in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (/proc/PID/stat)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def load(port: int, jobs, options) -> list:
    """Run the load generator in a second process; one result row per URL."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    args = (port, jobs, options.concurrency, options.requests, options.max_seconds, options.warmup)
    loader = context.Process(target=load_process, args=(*args, results))
    loader.start()
    rows = []
    deadline = time.monotonic() + len(jobs) * (options.max_seconds + 60)
    while time.monotonic() < deadline:
        try:
            item = results.get(timeout=1)
        except queue.Empty:
            if not loader.is_alive():
                raise SystemExit(f"the load generator died (exit code {loader.exitcode})") from None
            continue
        if item is None:
            break
        rows.append(item)
    loader.join(timeout=30)
    if loader.is_alive():
        loader.kill()
    return rows


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


def figures_of(rows) -> dict:
    """{page name: figures} for one backend's rows; throughput also as a ratio of /healthz
    (the mean of its first and last runs against the same server)."""
    figures = {}
    for name, path, result in rows:
        latencies = sorted(result["latencies"])
        count = len(latencies)
        figures[name] = {
            "path": path if len(path) <= 34 else path[:31] + "...",
            "rps": count / result["wall"] if result["wall"] else 0.0,
            "p50": statistics.median(latencies) * 1000 if count else float("nan"),
            "p95": statistics.quantiles(latencies, n=20)[18] * 1000 if count >= 2 else float("nan"),
            "errors": len(result["errors"]),
            "count": count,
            # Server CPU (gunicorn + mongod) per request, warm-up included: unlike
            # throughput, hardly moved by other processes on the machine.
            "cpu_ms": result["cpu_seconds"] * 1000 / (count + result["warmup"])
            if "cpu_seconds" in result
            else float("nan"),
        }
        if counters := result.get("opcounters"):  # MongoDB: what the server was sent
            requests = count + result["warmup"]
            sent = sum(v for k, v in counters.items() if k != "getmore")
            figures[name]["db_commands"] = sent / requests
            figures[name]["getmores"] = counters.get("getmore", 0) / requests
    healthz = statistics.mean(f["rps"] for f in figures.values() if f["path"] == "/healthz")
    for f in figures.values():
        f["x_healthz"] = f["rps"] / healthz if healthz else float("nan")
    return figures


def report(results: dict, *, cached: bool) -> int:
    """One line per URL, a column group per backend and a mongodb / sqlite throughput ratio;
    then the targets, met or missed. Returns 1 when any request failed."""
    figures = {backend: figures_of(rows) for backend, rows in results.items()}
    backends = list(figures)
    first = figures[backends[0]]
    ratio = backends == ["sqlite", "mongodb"]
    header = f"{'page':<18} {'path':<34}"
    sub = " " * len(header)
    for backend in backends:
        group = (
            f" {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'x healthz':>9} {'errors':>6}"
            f" {'CPU ms':>6}"
        )
        header += f" |{backend:^{len(group)}}"
        sub += f" |{group}"
    if ratio:
        header += f" | {'mongodb / sqlite':^16}"
        sub += f" | {'req/s':>7} {'CPU':>8}"
    print(header)
    print(sub)
    print("-" * len(sub))
    for name, f in first.items():
        line = f"{name:<18} {f['path']:<34}"
        for backend in backends:
            g = figures[backend][name]
            line += (
                f" | {g['rps']:>8.1f} {g['p50']:>7.1f} {g['p95']:>7.1f} {g['x_healthz']:>9.2f}"
                f" {g['errors']:>6} {g['cpu_ms']:>6.1f}"
            )
        if ratio:
            sqlite, mongodb = figures["sqlite"][name], figures["mongodb"][name]
            share = mongodb["rps"] / sqlite["rps"] if sqlite["rps"] else float("nan")
            cpu = mongodb["cpu_ms"] / sqlite["cpu_ms"] if sqlite["cpu_ms"] else float("nan")
            line += f" | {share:>7.2f} {cpu:>8.2f}"
        print(line)
    if "mongodb" in figures:
        sent = "; ".join(
            f"{name} {g['db_commands']:.2f} (+{g['getmores']:.2f} getMore)"
            for name, g in figures["mongodb"].items()
            if "db_commands" in g and g["path"] != "/healthz"
        )
        print(f"mongod's opcounters per request under this load: {sent}")
    total_errors = sum(g["errors"] for f in figures.values() for g in f.values())
    print("targets:")
    if cached:
        for backend in backends:
            verdicts = []
            for name in CACHED_PAGES:
                g = figures[backend][name]
                met = g["x_healthz"] >= CACHED_RATIO
                verdicts.append(f"{name} {g['x_healthz']:.2f}x{'' if met else ' MISSED'}")
            print(f"  {backend}: cached pages >= {CACHED_RATIO}x /healthz: " + "; ".join(verdicts))
    else:
        for name, limit in CPU_MS.items():
            verdicts = []
            for backend in backends:
                allowed = limit * (CPU_MONGODB if backend == "mongodb" else 1)
                g = figures[backend][name]
                met = g["cpu_ms"] <= allowed
                verdicts.append(
                    f"{backend} {g['cpu_ms']:.1f} <= {allowed:.1f}{'' if met else ' MISSED'}"
                )
            print(f"  uncached {name}, server CPU ms per request: " + "; ".join(verdicts))
    if not cached and "mongodb" in figures:
        for name in UNCACHED_PAGES:
            g = figures["mongodb"][name]
            checks = [f"p95 {g['p95']:.1f} ms", f"{g['errors']} errors"]
            met = g["p95"] < P95_MS and g["errors"] == 0
            if "sqlite" in figures:
                share = g["rps"] / figures["sqlite"][name]["rps"]
                checks.insert(0, f"{share:.2f}x sqlite's req/s")
                met = met and share >= UNCACHED_RATIO
            print(
                f"  mongodb, uncached {name}: >= {UNCACHED_RATIO}x sqlite, p95 < {P95_MS:.0f} ms,"
                f" 0 errors: {', '.join(checks)} -> {'met' if met else 'MISSED'}"
            )
    print(f"  errors, all backends: {total_errors}")
    return 1 if total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
