"""Where an uncached page's CPU goes, MongoDB beside SQLite: cProfile in one process.

Each backend gets a throw-away database prepared as bench.pages does. Then, in a process of
its own per backend, the Django test client requests each page with the page cache off:
--requests times unprofiled (the request thread's CPU time per request), then as many under
cProfile. Prints each page's CPU per request on each backend and the functions whose own time
per request exceeds SQLite's most on MongoDB (with one backend: its costliest). mongod's own
CPU is not in these figures: bench.pages measures it with the server's.

    .venv/bin/python -m bench.cpu_profile [--backends sqlite,mongodb] [--requests 50] [--top 12]
"""

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from bench import harness


def worker(pages: dict, times: int) -> dict:
    """{page: {"cpu_ms": ..., "functions": {name: [own ms, calls] per request}}}."""
    import cProfile
    import pstats
    import time

    import django

    django.setup()
    from django.test import Client
    from django.test.utils import override_settings

    client = Client(SERVER_NAME=harness.HOST)
    found = {}
    with override_settings(PAGE_CACHE_SECONDS=0):
        for name, url in pages.items():
            for _ in range(5):  # warm: kept counts, card fragments, connections
                assert client.get(url).status_code == 200, url
            started = time.thread_time()
            for _ in range(times):
                client.get(url)
            cpu_ms = (time.thread_time() - started) * 1000 / times
            profile = cProfile.Profile()
            with profile:
                for _ in range(times):
                    client.get(url)
            functions = {}
            for (path, line, function), row in pstats.Stats(profile).stats.items():
                where = re.sub(r".*/(site-packages|lib/python3\.\d+)/", "", path)
                where = where.removeprefix(str(harness.ROOT) + "/")
                functions[f"{where}:{line}({function})"] = [row[2] * 1000 / times, row[1] / times]
            found[name] = {"cpu_ms": cpu_ms, "functions": functions}
    return found


def report(results: dict, top: int) -> None:
    backends = list(results)
    base, other = results.get("sqlite"), results.get("mongodb")
    for name in results[backends[0]]:
        cpu = ", ".join(f"{b} {results[b][name]['cpu_ms']:.2f}" for b in backends)
        print(f"\n== {name}: request thread CPU ms per request: {cpu}")
        if base and other:
            ours, theirs = other[name]["functions"], base[name]["functions"]
            rows = [["mongodb - sqlite own ms", "calls", "sqlite calls", "function"]]
            excess = {f: own - theirs.get(f, [0, 0])[0] for f, (own, _) in ours.items()}
        else:
            ours = theirs = results[backends[0]][name]["functions"]
            rows = [["own ms", "calls", "", "function"]]
            excess = {f: own for f, (own, _) in ours.items()}
        for function in sorted(excess, key=excess.get, reverse=True)[:top]:
            rows.append(
                [
                    f"{excess[function]:+.3f}",
                    f"{ours[function][1]:.1f}",
                    f"{theirs.get(function, [0, 0])[1]:.1f}" if theirs is not ours else "",
                    function[-90:],
                ]
            )
        harness.print_table(rows, left=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_backends(parser)
    parser.add_argument("--requests", type=int, default=50, help="per page and pass (50)")
    parser.add_argument("--top", type=int, default=12, help="functions shown per page (12)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # JSON {page: url}
    options = parser.parse_args()
    if options.worker:
        print(json.dumps(worker(json.loads(options.worker), options.requests)))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="bench-cpu-profile-"))
    try:
        with contextlib.ExitStack() as stack:
            env = harness.server_env(DJANGO_SETTINGS_MODULE="marvelsite.settings")
            envs, _ = harness.databases(stack, options.backends, env, workdir, "bench_profile")
            infos = {backend: harness.prepare_site(env) for backend, env in envs.items()}
            info = infos[options.backends[0]]
            pages = {
                "home /": "/",
                "list first page": "/characters/",
                "list deep page": f"/characters/?page={info['deep_page']}",
                "list middle page": f"/characters/?page={info['middle_page']}",
                "search": "/characters/?q=man",
                "character": info["character"],
                "comic": info["comic"],
            }
            args = ["-m", "bench.cpu_profile", "--requests", str(options.requests)]
            results = {
                backend: harness.last_json(
                    harness.run(
                        [harness.PYTHON, *args, "--worker", json.dumps(pages)],
                        env,
                        capture_output=True,
                    ).stdout
                )
                for backend, env in envs.items()
            }
        print(
            f"{options.requests} requests per page unprofiled, as many profiled; the Django "
            f"test client in one process per backend; load average {harness.loadavg()}, "
            f"{os.cpu_count()} CPUs"
        )
        report(results, options.top)
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
