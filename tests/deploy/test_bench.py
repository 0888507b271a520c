"""Each benchmark still starts: `python -m bench.X --help`, and a bad backend is refused before
anything is started. The benchmarks themselves are long and print figures; they are not run
here."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ("pages", "scale", "outage", "seed", "images", "cpu_profile")
WITH_BACKENDS = ("pages", "scale", "seed", "images", "cpu_profile")


def bench(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", BENCHMARKS)
def test_each_benchmark_runs_as_a_module(name):
    done = bench(name, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:"), done.stdout
    assert "--backends" in done.stdout or name == "outage"


@pytest.mark.parametrize("name", WITH_BACKENDS)
def test_an_unknown_backend_is_refused_by_name(name):
    done = bench(name, "--backends", "sqlite,postgres")
    assert done.returncode == 2
    assert "unknown backend(s) ['postgres']; choose from sqlite, mongodb" in done.stderr


def test_the_benchmarks_are_one_package_with_no_path_tricks():
    for path in (ROOT / "bench").glob("*.py"):
        assert "sys.path" not in path.read_text(), path
