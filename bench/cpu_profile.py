"""Where an uncached page's CPU goes, MongoDB beside SQLite: cProfile in one process.

Each backend gets a throw-away database prepared as bench.pages does. Then, in a process of
its own per backend, the Django test client requests each page with the page cache off:
--requests times unprofiled (the request thread's CPU time per request), then as many under
cProfile. Prints each page's CPU per request on each backend and the functions whose own time
per request exceeds SQLite's most on MongoDB (with one backend: its costliest).

mongod's own CPU is not in those figures (bench.pages measures it with the server's under load).
On MongoDB the commands the request thread sends for ten requests of each page are recorded too
(pymongo's command monitoring) and then replayed straight to mongod, --replays times each
distinct read from four threads, each cursor drained, against the CPU time of mongod's threads:
what the database itself spends per page, beside a `ping` replayed the same way in the same run
(the cost of any command at all).

    .venv/bin/python -m bench.cpu_profile [--backends sqlite,mongodb] [--requests 50] [--top 12]
        [--replays 2000]
"""

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from bench import harness


def worker(pages: dict, times: int) -> dict:
    """{page: {"cpu_ms": ..., "functions": {name: [own ms, calls] per request}, "commands":
    {[database, command]: times sent} over RECORDED_REQUESTS requests (MongoDB)}}."""
    import cProfile
    import pstats
    import time

    import django

    recorder = CommandRecorder()
    django.setup()
    from django.test import Client
    from django.test.utils import override_settings

    client = Client(SERVER_NAME=harness.HOST)
    found = {}
    with override_settings(PAGE_CACHE_SECONDS=0):
        for name, url in pages.items():
            for _ in range(5):  # warm: kept counts, card fragments, connections
                assert client.get(url).status_code == 200, url
            with recorder.recording() as commands:
                for _ in range(RECORDED_REQUESTS):
                    client.get(url)
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
            found[name] = {
                "cpu_ms": cpu_ms,
                "functions": functions,
                "commands": [[*key, sent] for key, sent in commands.items()],
            }
    return found


# Requests of each page whose MongoDB commands are recorded (home draws other cards each time).
RECORDED_REQUESTS = 10
# What a command carries that belongs to the session that sent it, not to the work asked.
SESSION_FIELDS = {"lsid", "txnNumber", "$clusterTime", "$db", "$readPreference"}
# Replayed: reads only. A write would be applied once per replay.
READ_COMMANDS = {"find", "aggregate", "count", "distinct"}


class CommandRecorder:
    """Records the commands the worker's request thread sends to MongoDB inside
    `recording()` (pymongo publishes a command's events on the thread that sends it), so
    neither the watcher's thread nor the timed and profiled requests pay for it. A cursor's
    getMore is not recorded: the replay drains each cursor itself."""

    def __init__(self):
        from pymongo import monitoring

        self.thread = None
        self.commands: dict = {}
        recorder = self

        class Listener(monitoring.CommandListener):
            def started(self, event):
                if threading.get_ident() == recorder.thread:
                    recorder.add(event)

            def succeeded(self, event):
                pass

            def failed(self, event):
                pass

        monitoring.register(Listener())  # applies to the clients made from now on

    def add(self, event) -> None:
        from bson import json_util

        if event.command_name in ("getMore", "killCursors", "endSessions"):
            return
        command = {k: v for k, v in event.command.items() if k not in SESSION_FIELDS}
        key = (event.database_name, json_util.dumps(command))
        self.commands[key] = self.commands.get(key, 0) + 1

    @contextlib.contextmanager
    def recording(self):
        self.commands = {}
        self.thread = threading.get_ident()
        try:
            yield self.commands
        finally:
            self.thread = None


def is_read(command: dict) -> bool:
    name = next(iter(command))
    stages = command.get("pipeline", []) if name == "aggregate" else []
    return name in READ_COMMANDS and not any(
        "$out" in stage or "$merge" in stage for stage in stages
    )


def replay(uri: str, mongod: int, pages: dict, times: int) -> dict:
    """{page: (mongod's CPU ms per request, commands per request, writes not replayed)} for
    the recorded commands of each page, and {"ping": ms} for a `ping`: each distinct command
    sent `times` times from four threads (a cursor drained to its end)."""
    from concurrent.futures import ThreadPoolExecutor

    from bson import json_util
    from pymongo import MongoClient

    client = MongoClient(uri, maxPoolSize=4)
    try:

        def cost(database: str, command: dict) -> float:
            opens_a_cursor = next(iter(command)) in ("find", "aggregate")

            def send(_):
                if opens_a_cursor:
                    list(client[database].cursor_command(command))
                else:
                    client[database].command(command)

            for _ in range(50):  # warm: connections, the plan cache
                send(None)
            before = harness.task_cpu_seconds(mongod)
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(send, range(times)))
            return (harness.task_cpu_seconds(mongod) - before) * 1000 / times

        found = {"ping": cost("admin", {"ping": 1})}
        for name, recorded in pages.items():
            spent = sent = writes = 0
            for database, text, count in recorded:
                command = json_util.loads(text)
                sent += count
                if not is_read(command):
                    writes += count
                    continue
                spent += count * cost(database, command)
            found[name] = (spent / RECORDED_REQUESTS, sent / RECORDED_REQUESTS, writes)
        return found
    finally:
        client.close()


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


def report_replayed(replayed: dict, times: int) -> None:
    floor = replayed.pop("ping")
    print(
        f"\n== mongod's own CPU ms per request: each page's commands ({RECORDED_REQUESTS} "
        f"requests recorded) replayed {times} times from 4 threads; a ping replayed the same "
        f"way: {floor:.3f}"
    )
    rows = [["page", "commands", "mongod ms", "x ping"]]
    for name, (spent, sent, writes) in replayed.items():
        commands = f"{sent:.1f}" + (f" ({writes} writes not replayed)" if writes else "")
        rows.append([name, commands, f"{spent:.3f}", f"{harness.ratio(spent, floor):.1f}"])
    harness.print_table(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_backends(parser)
    parser.add_argument("--requests", type=int, default=50, help="per page and pass (50)")
    parser.add_argument("--top", type=int, default=12, help="functions shown per page (12)")
    parser.add_argument(
        "--replays", type=int, default=2000, help="times each MongoDB command is replayed (2000)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # JSON {page: url}
    options = parser.parse_args()
    if options.worker:
        print(json.dumps(worker(json.loads(options.worker), options.requests)))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="bench-cpu-profile-"))
    try:
        with contextlib.ExitStack() as stack:
            env = harness.server_env(DJANGO_SETTINGS_MODULE="marvelsite.settings")
            envs, replica_set = harness.databases(
                stack, options.backends, env, workdir, "bench_profile"
            )
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
            replayed = None
            if replica_set is not None:
                sent = {name: found["commands"] for name, found in results["mongodb"].items()}
                mongod_pid = replica_set.processes[0].pid
                replayed = replay(replica_set.uri, mongod_pid, sent, options.replays)
        print(
            f"{options.requests} requests per page unprofiled, as many profiled; the Django "
            f"test client in one process per backend; load average {harness.loadavg()}, "
            f"{os.cpu_count()} CPUs"
        )
        report(results, options.top)
        if replayed:
            report_replayed(replayed, options.replays)
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
