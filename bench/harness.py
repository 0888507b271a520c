"""The one harness of the benchmarks: options, databases, servers, load, CPU and tables.

Every server listens on 127.0.0.1, every load is bounded by a request count and a time limit,
and everything started here is stopped by its process id.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection, HTTPException
from pathlib import Path

from scripts.local_mongo import HOST, ReplicaSet, free_port

# Where manage.py and the site live; bench.outage --code points it at another checkout.
ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
BACKENDS = ("sqlite", "mongodb")
ENOUGH_REQUESTS = 10**9  # loads bounded by time only

# --- options ----------------------------------------------------------------------------------


def backend_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(BACKENDS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown backend(s) {unknown}; choose from {', '.join(BACKENDS)}"
        )
    return names


def add_backends(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backends",
        type=backend_list,
        default=list(BACKENDS),
        help="comma-separated: sqlite,mongodb (default)",
    )


def add_load(parser, *, requests: int, max_seconds: float, warmup: int) -> None:
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    parser.add_argument(
        "--requests", type=int, default=requests, help=f"requests per URL ({requests})"
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=max_seconds,
        help=f"time limit per URL ({max_seconds:g})",
    )
    parser.add_argument(
        "--warmup", type=int, default=warmup, help=f"unmeasured requests per URL ({warmup})"
    )


# --- processes and databases ------------------------------------------------------------------


def server_env(**settings: str) -> dict:
    """This process's environment without the site's own settings (so the caller's database or
    keys never leak in), plus a throw-away production-like server's, plus `settings`."""
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


def run(args, env, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=ROOT, check=True, text=True, **kwargs)


def manage(env: dict, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return run([PYTHON, "manage.py", *args], env, **kwargs)


def last_json(text: str):
    """The last line of a child's output, as JSON (what it prints before is its own)."""
    return json.loads(text.strip().splitlines()[-1])


def loadavg() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def databases(stack, backends, env: dict, workdir: Path, name: str, **replica) -> tuple:
    """({backend: env}, the replica set or None): a data folder per backend; on MongoDB the
    database `name` on one throw-away replica set (`replica`: ReplicaSet's options), stopped
    by pid and deleted when `stack` closes."""
    envs, replica_set = {}, None
    for backend in backends:
        folder = workdir / backend
        folder.mkdir()
        envs[backend] = {**env, "MARVELSITE_DATA_DIR": str(folder)}
        if backend == "mongodb":
            replica_set = stack.enter_context(ReplicaSet(**replica))
            envs[backend].update(MONGODB_URI=replica_set.uri, MONGODB_NAME=name)
    return envs, replica_set


PICK_URLS = """
import json
from django.db import connection
from django.db.models import Count
from django.templatetags.static import static
from characters.models import Character, CharacterComic, Comic
from characters.paging import MAX_PAGES
from characters.views import CharacterListView
total = Character.objects.count()
pages = max(1, -(-total // CharacterListView.paginate_by))
busiest = Character.objects.order_by("-comics_available", "id").first()
links = CharacterComic.objects
by_cast = links.values("comic_id").annotate(n=Count("id")).order_by("-n", "comic_id")
print(json.dumps({
    "characters": total,
    "comics": Comic.objects.count(),
    "links": links.count(),
    "deep_page": max(1, pages - 1),
    "middle_page": max(1, min(pages, MAX_PAGES) // 2),
    "character": busiest.get_absolute_url(),
    "comic": Comic.objects.get(pk=by_cast[0]["comic_id"]).get_absolute_url(),
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


def prepare_site(env: dict) -> dict:
    """migrate, seed_marvel with the bundled data set, collectstatic; then the URLs to load."""
    manage(env, "migrate", "--noinput", "-v0")
    started = time.perf_counter()
    # The bundled data set (characters/data/), whatever MARVEL_* keys the caller has.
    manage(env, "seed_marvel", "--source", "file", stdout=subprocess.DEVNULL)
    seeded = time.perf_counter() - started
    manage(env, "collectstatic", "--noinput", "-v0")
    info = last_json(manage(env, "shell", "-c", PICK_URLS, capture_output=True).stdout)
    info["seed_seconds"] = seeded
    return info


# --- gunicorn ---------------------------------------------------------------------------------


def wait_ready(port: int, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, HTTPException):
            conn = HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer /healthz on {HOST}:{port} within {limit:.0f}s")


@contextlib.contextmanager
def serve(env: dict, workdir: Path):
    """gunicorn as in the container (2 workers x 4 threads unless GUNICORN_* say otherwise) on a
    free loopback port, logging to workdir/gunicorn-PORT.log; stopped (SIGTERM) on exit."""
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


def describe_server(env: dict) -> str:
    return (
        f"gunicorn {env.get('GUNICORN_WORKERS', '2')} workers x "
        f"{env.get('GUNICORN_THREADS', '4')} threads on {HOST}"
    )


# --- CPU accounting from /proc ----------------------------------------------------------------


def server_pids(port: int, mongod: int | None = None) -> list[int]:
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


def task_cpu_seconds(pid: int) -> float:
    """The CPU time of a process's live threads so far, to the nanosecond
    (/proc/PID/task/*/schedstat): for windows too short for cpu_seconds()' 10 ms ticks, over
    threads that outlive them (a thread that ends takes its time with it)."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        with contextlib.suppress(OSError):
            total += int(stat.read_text().split()[0])
    return total / 1e9


# --- the load generator (runs in a process of its own) ----------------------------------------


def group(kind, paths, clients, *, method="GET", body=None, headers=None) -> tuple:
    """`clients` keep-alive connections, each sending `paths` in turn."""
    return (kind, list(paths), clients, method, body, {"Host": HOST, **(headers or {})})


def _send(conn, method, path, body, headers) -> int:
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


def _load_process(port, groups, seconds, requests, warmup, timeout, results):
    for _kind, paths, _clients, method, body, headers in groups:
        for path in paths * warmup:  # fill caches and connection pools first; not measured
            _send(HTTPConnection(HOST, port, timeout=timeout), method, path, body, headers)
    records = []  # (kind, path, start, end, status); status 0: no answer
    issued = itertools.count()  # its next() is atomic: the request bound across clients
    started = time.perf_counter()

    def client(kind, paths, method, body, headers):
        conn = HTTPConnection(HOST, port, timeout=timeout)
        for n in itertools.count():
            if time.perf_counter() - started > seconds or next(issued) >= requests:
                break
            path = paths[n % len(paths)]
            start = time.perf_counter()
            try:
                status = _send(conn, method, path, body, headers)
            except (OSError, HTTPException):
                status = 0
                conn.close()
                conn = HTTPConnection(HOST, port, timeout=timeout)
            records.append((kind, path, start - started, time.perf_counter() - started, status))
        conn.close()

    threads = [
        threading.Thread(target=client, args=(kind, paths, method, body, headers))
        for kind, paths, clients, method, body, headers in groups
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    results.put("started")
    for thread in threads:
        thread.join()
    results.put((records, time.perf_counter() - started))


class Load:
    """A bounded load from a second process on 127.0.0.1, started now; `records()` waits for
    its end. `groups`: made by `group()`."""

    def __init__(self, port, groups, seconds, *, requests=ENOUGH_REQUESTS, warmup=0, timeout=10.0):
        context = multiprocessing.get_context("spawn")
        self.results = context.Queue()
        self.seconds = seconds
        self.wall = 0.0
        args = (port, groups, seconds, requests, warmup, timeout, self.results)
        self.process = context.Process(target=_load_process, args=args)
        self.process.start()
        self._next(60 + warmup * 10)  # "started"
        self.started = time.monotonic()

    def _next(self, limit: float):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                return self.results.get(timeout=1)
            except queue.Empty:
                if not self.process.is_alive():
                    code = self.process.exitcode
                    raise SystemExit(f"the load generator died (exit code {code})") from None
        self.process.kill()
        raise SystemExit("the load generator did not finish")

    def records(self) -> list[tuple]:
        try:
            records, self.wall = self._next(self.seconds + 120)
        finally:
            self.process.join(timeout=30)
            if self.process.is_alive():
                self.process.kill()
        return records


# --- figures ----------------------------------------------------------------------------------


def percentile_ms(seconds: list[float], q: float) -> float:
    if not seconds:
        return float("nan")
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def latencies(records, kind=None) -> list[float]:
    return [end - start for k, _path, start, end, _status in records if kind in (None, k)]


def summarize(records, wall: float, expect=(200,)) -> dict:
    """req/s, p50 and p95 in ms, the count and the errors (a status not in `expect`)."""
    seconds = latencies(records)
    return {
        "rps": len(seconds) / wall if wall else 0.0,
        "p50": percentile_ms(seconds, 0.5),
        "p95": percentile_ms(seconds, 0.95),
        "count": len(seconds),
        "errors": sum(1 for record in records if record[4] not in expect),
    }


def measure(
    port, path, options, *, headers=None, pids=(), database_pid=None, expect=(200,)
) -> dict:
    """`options.requests` GETs of `path` by `options.concurrency` clients (at most
    `options.max_seconds`), after `options.warmup` unmeasured ones; summarized, with the
    server's CPU time per request ("cpu_ms", warm-up included) when `pids` are given: unlike
    throughput, hardly moved by other work on the machine. With `database_pid` (one of
    `pids`: mongod), also its share of it ("database_cpu_ms")."""
    spent = cpu_seconds(pids)
    database_spent = cpu_seconds([database_pid]) if database_pid else 0.0
    load = Load(
        port,
        [group(path, [path], options.concurrency, headers=headers)],
        options.max_seconds,
        requests=options.requests,
        warmup=options.warmup,
    )
    figures = summarize(load.records(), load.wall, expect)
    if pids:
        served = figures["count"] + options.warmup
        figures["cpu_ms"] = (cpu_seconds(pids) - spent) * 1000 / max(1, served)
        if database_pid:
            database = cpu_seconds([database_pid]) - database_spent
            figures["database_cpu_ms"] = database * 1000 / max(1, served)
    return figures


def ratio(value: float, base: float) -> float:
    return value / base if base else float("nan")


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def print_table(rows: list[list], *, left: int = 1, rule_after: int = 1) -> None:
    """Columns as wide as their widest cell: the first `left` aligned left, the rest right; a
    rule under the first `rule_after` rows (the header)."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells if i < len(row)) for i in range(len(cells[0]))]
    for index, row in enumerate(cells):
        line = "  ".join(
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=False))
        )
        print(line.rstrip())
        if index + 1 == rule_after:
            print("-" * len(line))
