"""A recorded file is decompressed as a stream and refused past MARVELSITE_MAX_RECORDING_BYTES:
a gzip bomb (1 MB that expands to 1 GiB) costs a real seed_marvel little memory."""

import gzip
import json
import os
import subprocess
import sys
import tempfile

import pytest

from characters.ingest.recordings import DEFAULT_MAX_BYTES, RecordingError, load_json
from tests.support.manage import ROOT, clean_env

GIB = 1024**3
PEAK_LIMIT_KB = 600 * 1024


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "characters.json.gz"
    zeros = bytes(16 * 1024 * 1024)
    with gzip.open(path, "wb", compresslevel=9) as out:
        for _ in range(GIB // len(zeros)):
            out.write(zeros)
    assert path.stat().st_size < 2 * 1024 * 1024
    return path


def run_seed(env, *args) -> tuple[int, str, str, int]:
    """seed_marvel as a child process: its status, stdout, stderr and peak RSS in kB."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "seed_marvel", "--json", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
        _pid, status, usage = os.wait4(process.pid, 0)  # this child's own rusage
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        return process.returncode, out.read().decode(), err.read().decode(), usage.ru_maxrss


def test_a_gzip_bomb_is_refused_with_little_memory(bomb, tmp_path):
    env = clean_env(tmp_path, DJANGO_DEBUG="true")

    status, stdout, stderr, peak_kb = run_seed(env, "--path", str(bomb))

    print(f"seed_marvel on a 1 GiB gzip bomb: peak RSS {peak_kb / 1024:.0f} MB")
    assert status == 1
    [line] = stderr.strip().splitlines()
    assert f"holds more than {DEFAULT_MAX_BYTES} bytes of JSON" in line
    assert "MARVELSITE_MAX_RECORDING_BYTES" in line
    assert json.loads(stdout.strip().splitlines()[-1])["errors"] == 1
    assert peak_kb < PEAK_LIMIT_KB


def test_the_cap_is_a_setting(tmp_path):
    path = tmp_path / "small.json"
    path.write_text(json.dumps([{"id": 1, "name": "A" * 50}] * 40))
    env = clean_env(tmp_path, DJANGO_DEBUG="true", MARVELSITE_MAX_RECORDING_BYTES="1000")

    status, stdout, stderr, _ = run_seed(env, "--path", str(path), "--dry-run")
    assert status == 1
    assert "holds more than 1000 bytes of JSON" in stderr

    env["MARVELSITE_MAX_RECORDING_BYTES"] = "lots"
    status, stdout, stderr, _ = run_seed(env, "--path", str(path), "--dry-run")
    assert status == 1
    assert "MARVELSITE_MAX_RECORDING_BYTES must be a number, got 'lots'" in stderr
    assert json.loads(stdout.strip().splitlines()[-1])["errors"] == 1


def test_the_cap_counts_decompressed_bytes_in_every_file_of_a_folder(tmp_path):
    envelope = {"code": 200, "data": {"offset": 0, "results": [{"id": 1, "name": "A"}]}}
    (tmp_path / "a.json").write_text(json.dumps(envelope))
    big = {"code": 200, "data": {"offset": 1, "results": [{"id": 2, "name": "B" * 5000}]}}
    (tmp_path / "b.json.gz").write_bytes(gzip.compress(json.dumps(big).encode()))

    assert load_json(tmp_path / "a.json", max_bytes=200) == envelope
    with pytest.raises(RecordingError, match=r"b\.json\.gz: holds more than 4000 bytes"):
        load_json(tmp_path / "b.json.gz", max_bytes=4000)
    assert load_json(tmp_path / "b.json.gz", max_bytes=6000) == big
    (tmp_path / "c.json.gz").write_bytes(gzip.compress(b"[]")[:-6])
    with pytest.raises(RecordingError, match="bad gzip data"):
        load_json(tmp_path / "c.json.gz")
