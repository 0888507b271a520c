"""Recorded files are read as streams, one record at a time (characters/ingest/recordings.py):
the records are exactly json's, whatever the chunk boundaries cut, a record nested too deeply
to decode is passed over alone, and memory follows the page, not the file (a real
seed_marvel's peak RSS)."""

import json
import random
import sys

import pytest

from characters.ingest import recordings
from characters.ingest.recordings import RecordingError, RecordingSource, scan
from characters.ingest.records import NESTED_TOO_DEEPLY
from tests.support.bad_json import nested_too_deeply
from tests.support.manage import ROOT
from tests.support.peak_memory import run_measured

SAMPLE = [
    {"id": 1, "name": "Ünïcode ☃ \U0001f600", "description": 'quote " back\\ slash', "x": 1.5e3},
    {"id": 22, "name": "Numbers", "comics": {"available": 12345678901234567890, "items": []}},
    {"id": 333, "name": "Nested", "urls": [{"type": "detail", "url": "https://m"}] * 3},
    [],
    None,
    "a string record",
]


def raw_records(path, **options):
    """What the stream hands to parsing: each page's raw records, in order."""
    seen = []
    original = recordings.parse_results

    def spy(results, offset):
        seen.extend(results)
        return original(results, offset)

    recordings.parse_results = spy
    try:
        list(RecordingSource(path, **options))
    finally:
        recordings.parse_results = original
    return seen


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64 * 1024])
@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("shape", ["array", "envelope", "envelope, results first"])
def test_records_are_json_s_whatever_the_chunks(tmp_path, monkeypatch, chunk, indent, shape):
    monkeypatch.setattr(recordings, "CHUNK_CHARS", chunk)
    if shape == "array":
        body = SAMPLE
    elif shape == "envelope":
        body = {"code": 200, "attributionText": "©", "data": {"offset": 5, "results": SAMPLE}}
    else:
        body = {"data": {"results": SAMPLE, "total": 11, "offset": 5}, "attributionText": "©"}
    path = tmp_path / "r.json"
    path.write_text(
        "\ufeff" * (indent is None) + json.dumps(body, indent=indent, ensure_ascii=False)
    )

    assert raw_records(path, page_size=4) == json.loads(json.dumps(SAMPLE))
    file = scan(path)
    assert file.count == len(SAMPLE)
    if shape != "array":
        assert (file.offset, file.attribution) == (5, "©")


def test_random_documents_split_anywhere(tmp_path, monkeypatch):
    monkeypatch.setattr(recordings, "CHUNK_CHARS", 5)
    rng = random.Random(19)

    def value(depth=0):
        kind = rng.choice("isfnbla" if depth < 4 else "isfnb")
        if kind == "i":
            return rng.randint(-(10**20), 10**20)
        if kind == "s":
            return "".join(rng.choice('ab"\\/\n☃é\t ') for _ in range(rng.randint(0, 12)))
        if kind == "f":
            return rng.uniform(-1e9, 1e9)
        if kind == "n":
            return None
        if kind == "b":
            return rng.random() < 0.5
        if kind == "l":
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {f"k{n}": value(depth + 1) for n in range(rng.randint(0, 4))}

    for n in range(30):
        records = [value() for _ in range(rng.randint(0, 6))]
        path = tmp_path / f"{n}.json"
        path.write_text(json.dumps({"data": {"results": records}}, indent=rng.choice([None, 1])))
        assert raw_records(path) == records


@pytest.mark.parametrize("chunk", [1, 3, 7, 64 * 1024])
@pytest.mark.parametrize("shape", ["array", "envelope"])
def test_a_record_nested_too_deeply_is_skipped_alone(tmp_path, monkeypatch, chunk, shape):
    monkeypatch.setattr(recordings, "CHUNK_CHARS", chunk)
    first, last = SAMPLE[0], {"id": 22, "name": "After"}
    results = f"[{json.dumps(first)}, {nested_too_deeply()}, {json.dumps(last)}]"
    text = results if shape == "array" else f'{{"data": {{"offset": 40, "results": {results}}}}}'
    path = tmp_path / "deep.json"
    path.write_text(text)

    with pytest.raises(RecursionError):  # as deep as the test means, on this Python too
        json.loads(nested_too_deeply())
    assert raw_records(path) == [first, NESTED_TOO_DEEPLY, last]
    [page] = RecordingSource(path)
    assert [record.id for record in page.records] == [1, 22]
    [skipped] = page.skipped
    assert skipped.offset == (1 if shape == "array" else 41)
    assert "nested too deeply to read" in skipped.describe()
    assert scan(path).count == 3


def test_a_value_nested_too_deeply_outside_the_records_is_the_files_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(f'{{"data": {{"results": [], "x": {nested_too_deeply()}}}}}')
    with pytest.raises(RecordingError, match="malformed JSON: nested too deeply$"):
        RecordingSource(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[" * 100_000, "nested too deeply, and its brackets or strings never close"),
        ('[{"id": 1}, ' + "[" * 100_000 + "}" * 100_000 + "]", "'}' closes no bracket of its kind"),
        ('[{"id": 1}, ' + "[" * 100_000 + '"' + "]" * 100_000 + "]", "never close"),
        ('{"data": {"results": [{"id": 1}]}} []', "extra data after the JSON value"),
        ('{"data": {"results": [{"id": 1},]}}', "Expecting value"),
        ('{"data": {"results": [{"id": 1}', "expected ']'"),
        ('{"data" 5}', "expected ':'"),
        ("", "Expecting value"),
    ],
)
def test_bad_json_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(RecordingError, match=message) as caught:
        RecordingSource(path)
    assert str(caught.value).startswith(f"{path}: malformed JSON: ")


READ_PAGES = (  # each page dropped once read, as seed() does
    "import collections, sys; from characters.ingest.recordings import RecordingSource; "
    "collections.deque(RecordingSource(sys.argv[1]), maxlen=0)"
)


def peak_kb_reading(path) -> int:
    """A fresh process reads every page of ``path``: its peak RSS in kB."""
    command = [sys.executable, "-c", READ_PAGES, str(path)]
    done, peak_kb = run_measured(command, path.with_suffix(".rss"), cwd=ROOT, timeout=300)
    assert done.returncode == 0
    return peak_kb


def test_memory_follows_the_page_not_the_file(tmp_path):
    record = {"id": 1, "name": "N", "description": "d" * 1500, "comics": {"available": 0}}
    small, big = tmp_path / "small.json", tmp_path / "big.json"
    small.write_text(json.dumps([record]))
    with big.open("w") as out:  # 60 MB: json.loads of it held about 210 MB more
        out.write("[")
        out.write(",".join(json.dumps(record | {"id": n + 1}) for n in range(40_000)))
        out.write("]")

    baseline, peak = peak_kb_reading(small), peak_kb_reading(big)

    print(f"reading 60 MB of JSON: peak RSS {peak // 1024} MB, one record {baseline // 1024} MB")
    assert peak - baseline < 32 * 1024
