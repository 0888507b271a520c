#!/usr/bin/env python3
"""Benchmark the public pages as served in production. Prints figures; asserts nothing timed.

Sets up a throw-away SQLite database in a temporary directory (migrate + `seed_marvel` with the
bundled data set + collectstatic), serves it with gunicorn exactly as the container does
(`gunicorn -c python:marvelsite.gunicorn_conf marvelsite.wsgi`, 2 workers x 4 threads unless
GUNICORN_* say otherwise) on 127.0.0.1, and drives a bounded load from a second process
(keep-alive HTTP/1.1 connections, one per client thread) against:

    /healthz (the baseline: answered by the first middleware, no database), a static file,
    /, a list page deep in pagination, a search, a character page and a comic page.

For each: requests/s, p50/p95 latency, throughput as a ratio of both baselines measured in the
same run, and the error count (anything but a 200). The whole set runs twice: with the page
cache on (production's default) and off (every page rendered from the database), each against
its own fresh gunicorn. Targets (issue 4, SQLite here): list and character >= 0.4x the baseline
at concurrency 8, p95 < 100 ms, 0 errors. Exit status 1 when any request failed.

    .venv/bin/python bench/bench_pages.py [--concurrency 8] [--requests 400] [--max-seconds 20]

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
TARGETS_TEXT = "list and character >= 0.4x the baseline (/healthz or a static file), p95 < 100 ms"

PICK_URLS = """
import json
from django.templatetags.static import static
from characters.models import Character, Comic
from characters.views import CharacterListView
total = Character.objects.count()
pages = max(1, -(-total // CharacterListView.paginate_by))
busiest = Character.objects.order_by("-comics_available", "id").first()
through = Character.comics.through
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
}))
"""


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


def drive(port, path, concurrency, total, max_seconds, warmup):
    """`total` GETs of `path` from `concurrency` keep-alive clients; returns latencies, errors."""
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
                conn.request("GET", path, headers={"Host": HOST})
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
        conn.request("GET", path)
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
    for name, path in jobs:
        results.put((name, path, drive(port, path, concurrency, total, max_seconds, warmup)))
    results.put(None)


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
        help="also save home.png and character.png of the seeded site there (Debian Chromium)",
    )
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MONGO", "DJANGO_", "MARVEL", "GUNICORN_BIND"))
    }
    env.update(
        MARVELSITE_DATA_DIR=str(workdir),
        DJANGO_SECRET_KEY="bench-only-not-secret",  # noqa: S106 - a throw-away local server
        DJANGO_DEBUG="false",
        DJANGO_ALLOWED_HOSTS=HOST,
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_COOKIES="false",
        DJANGO_LOG_LEVEL="WARNING",
    )
    status = 0
    try:
        info = prepare(env)
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
        print(
            f"data: {info['characters']} characters, {info['comics']} comics, "
            f"{info['links']} links (seeded in {info['seed_seconds']:.1f}s)"
        )
        print(
            f"server: gunicorn {env.get('GUNICORN_WORKERS', '2')} workers x "
            f"{env.get('GUNICORN_THREADS', '4')} threads on {HOST}; "
            f"load: {options.concurrency} keep-alive clients in a second process, "
            f"{options.requests} requests per URL (max {options.max_seconds:.0f}s), "
            f"{os.cpu_count()} CPUs shared by both"
        )
        modes = [
            ("page cache on (the default, MARVELSITE_PAGE_CACHE_SECONDS=60)", "60"),
            ("page cache off (MARVELSITE_PAGE_CACHE_SECONDS=0): every page rendered", "0"),
        ]
        for title, seconds in modes:
            with serve({**env, "MARVELSITE_PAGE_CACHE_SECONDS": seconds}, workdir) as port:
                print(f"\n== {title}")
                rows = load(port, jobs, options)
                status |= report(rows)
                if options.screenshots and seconds == "60":
                    screenshots(port, info["showcase"], Path(options.screenshots))
        return status
    finally:
        if options.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


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


def report(rows) -> int:
    """Print one line per URL; ratios are to /healthz (mean of its first and last runs) and to
    the static file, all measured in this run."""
    figures = []
    for name, path, result in rows:
        latencies = sorted(result["latencies"])
        count = len(latencies)
        figures.append(
            {
                "name": name,
                "path": path if len(path) <= 40 else path[:37] + "...",
                "rps": count / result["wall"] if result["wall"] else 0.0,
                "p50": statistics.median(latencies) * 1000 if count else float("nan"),
                "p95": statistics.quantiles(latencies, n=20)[18] * 1000
                if count >= 2
                else float("nan"),
                "errors": len(result["errors"]),
                "count": count,
            }
        )
    healthz = statistics.mean(f["rps"] for f in figures if f["path"] == "/healthz")
    static_file = figures[1]["rps"]
    header = f"{'page':<18} {'path':<40} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7}"
    header += f" {'x healthz':>9} {'x static':>8} {'errors':>6}"
    print(header)
    print("-" * len(header))
    for f in figures:
        print(
            f"{f['name']:<18} {f['path']:<40} {f['rps']:>8.1f} {f['p50']:>7.1f} {f['p95']:>7.1f}"
            f" {f['rps'] / healthz:>9.2f} {f['rps'] / static_file:>8.2f} {f['errors']:>6}"
        )
    total_errors = sum(f["errors"] for f in figures)
    verdicts = [
        f"{f['name']}: {f['rps'] / healthz:.2f}x healthz / {f['rps'] / static_file:.2f}x static,"
        f" p95 {f['p95']:.1f} ms"
        for f in figures
        if f["name"] in ("list deep page", "character")
    ]
    print(f"targets ({TARGETS_TEXT}): " + "; ".join(verdicts) + f"; errors {total_errors}")
    return 1 if total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
