"""scripts/local_mongo.py: a throw-away replica set that always goes away with its data."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "local_mongo.py"
# The child reports the URI it was given, whether a primary answers there, and the data folder.
CHILD = (
    "import os, pymongo, sys; "
    "c = pymongo.MongoClient(os.environ['MONGODB_URI'], serverSelectionTimeoutMS=5000); "
    "hello = c.admin.command('hello'); "
    "print(os.environ['MONGODB_URI'], hello['isWritablePrimary'], hello['setName'], flush=True); "
    "print(c.admin.command('getCmdLineOpts')['parsed']['storage']['dbPath'], flush=True); "
    "sys.exit(int(sys.argv[1]))"
)


def mongod_available() -> bool:
    found = subprocess.run([sys.executable, SCRIPT, "check"], capture_output=True, check=False)
    return found.returncode == 0


pytestmark = pytest.mark.skipif(
    not mongod_available() and os.environ.get("CI") != "true", reason="no runnable mongod here"
)


def mongod_processes() -> list[str]:
    listing = subprocess.run(
        ["ps", "-eww", "-o", "pid,args"], capture_output=True, text=True
    ).stdout
    return [line for line in listing.splitlines() if "bin/mongod " in line]


@pytest.mark.slow
def test_run_gives_the_command_a_replica_set_and_removes_it_after():
    done = subprocess.run(
        [sys.executable, SCRIPT, "run", "--", sys.executable, "-c", CHILD, "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr  # the command's own status
    uri_line, dbpath = done.stdout.splitlines()
    uri, primary, set_name = uri_line.split()
    assert uri.startswith("mongodb://127.0.0.1:")
    assert "replicaSet=rs0" in uri
    assert (primary, set_name) == ("True", "rs0")
    folder = str(Path(dbpath).parent)
    assert not Path(folder).exists()
    assert [p for p in mongod_processes() if folder in p] == []


@pytest.mark.slow
def test_an_interrupted_run_still_stops_mongod_and_deletes_its_data():
    sleeper = subprocess.Popen(
        [sys.executable, SCRIPT, "run", "--", "sleep", "300"],
        stderr=subprocess.PIPE,
        text=True,
    )
    line = sleeper.stderr.readline()  # "local_mongo: ... replica set up in 1.3s: mongodb://..."
    assert "replica set up" in line, line
    port = line.rsplit(":", 1)[1].split("/")[0]
    [process] = [p for p in mongod_processes() if f"--port={port}" in p]
    dbpath = Path(process.split("--dbpath=", 1)[1].split()[0])
    assert dbpath.is_dir()
    sleeper.send_signal(signal.SIGTERM)
    assert sleeper.wait(timeout=60) == 130
    assert [p for p in mongod_processes() if f"--port={port}" in p] == []
    assert not dbpath.parent.exists()


def test_check_names_the_problem_when_no_mongod_can_run(tmp_path):
    env = {**os.environ, "MONGOD": str(tmp_path / "missing-mongod")}
    done = subprocess.run(
        [sys.executable, SCRIPT, "check"], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 1
    assert "no runnable mongod" in done.stderr


@pytest.mark.slow
def test_a_command_that_ignores_ctrl_c_gets_sigterm_then_sigkill(tmp_path):
    # The command ignores SIGINT and SIGTERM, as a hung one might: only SIGKILL ends it.
    stubborn = (
        "import signal, sys, time; "
        "signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(300)"
    )
    runner = subprocess.Popen(
        [sys.executable, SCRIPT, "run", "--grace", "1", "--", sys.executable, "-c", stubborn],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = runner.stderr.readline()
    assert "replica set up" in line, line
    port = line.rsplit(":", 1)[1].split("/")[0]
    assert runner.stdout.readline().strip() == "ready"
    runner.send_signal(signal.SIGINT)
    # 1 s after Ctrl-C, 1 s after SIGTERM, then SIGKILL; not the command's 300 s.
    assert runner.wait(timeout=60) == 130
    said = runner.stderr.read()
    assert "did not end within 1s of SIGINT" in said
    assert "did not end within 1s of SIGTERM" in said
    assert "replica set stopped and removed" in said
    assert [p for p in mongod_processes() if f"--port={port}" in p] == []
