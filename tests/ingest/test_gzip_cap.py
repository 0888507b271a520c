"""A recorded file is decompressed as a stream and refused past MARVELSITE_MAX_RECORDING_BYTES:
a gzip bomb (1 MB that expands to 1 GiB) costs a real seed_marvel little memory."""

import gzip
import json
import sys
from pathlib import Path

import pytest

from characters.ingest.recordings import (
    DEFAULT_MAX_BYTES,
    RecordingError,
    RecordingSource,
    scan,
)
from tests.support.manage import ROOT, clean_env
from tests.support.peak_memory import run_measured

GIB = 1024**3
PEAK_LIMIT_KB = 600 * 1024


@pytest.fixture(scope="module", params=["zeros", "one long string"])
def bomb(request, tmp_path_factory):
    """1 MB of gzip that expands to 1 GiB: not JSON at all, or a JSON string that never ends."""
    path = tmp_path_factory.mktemp("bomb") / "characters.json.gz"
    filler = (b"\0" if request.param == "zeros" else b"a") * (16 * 1024 * 1024)
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(b'["' if request.param != "zeros" else b"")
        for _ in range(GIB // len(filler)):
            out.write(filler)
    assert path.stat().st_size < 2 * 1024 * 1024
    return request.param, path


def run_seed(env, *args) -> tuple[int, str, str, int]:
    """seed_marvel as a child process: its status, stdout, stderr and peak RSS in kB."""
    command = [sys.executable, "manage.py", "seed_marvel", "--json", *args]
    figure = Path(env["MARVELSITE_DATA_DIR"]) / "peak-rss"
    done, peak_kb = run_measured(
        command, figure, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    return done.returncode, done.stdout, done.stderr, peak_kb


def test_a_gzip_bomb_is_refused_with_little_memory(bomb, tmp_path):
    kind, path = bomb
    env = clean_env(tmp_path, DJANGO_DEBUG="true")

    status, stdout, stderr, peak_kb = run_seed(env, "--path", str(path))

    print(f"seed_marvel on a 1 GiB gzip bomb ({kind}): peak RSS {peak_kb / 1024:.0f} MB")
    assert status == 1
    [line] = stderr.strip().splitlines()
    if kind == "zeros":  # refused at its first byte
        assert f"{path}: malformed JSON: Expecting value: line 1 column 1" in line
    else:
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
    big = {
        "code": 200,
        "data": {"offset": 1, "results": [{"id": 2, "name": "B", "description": "b" * 5000}]},
    }
    (tmp_path / "b.json.gz").write_bytes(gzip.compress(json.dumps(big).encode()))

    assert scan(tmp_path / "a.json", max_bytes=200).count == 1
    with pytest.raises(RecordingError, match=r"b\.json\.gz: holds more than 4000 bytes"):
        RecordingSource(tmp_path, max_bytes=4000)
    pages = list(RecordingSource(tmp_path, max_bytes=6000))
    assert [r.name[:1] for page in pages for r in page.records] == ["A", "B"]
    (tmp_path / "c.json.gz").write_bytes(gzip.compress(b"[]")[:-6])
    with pytest.raises(RecordingError, match="c.json.gz: bad gzip data"):
        RecordingSource(tmp_path)
