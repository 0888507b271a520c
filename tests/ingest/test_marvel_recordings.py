"""The file source: directories, envelopes, arrays, gzip; and the bundled data set."""

import gzip
import json
import subprocess
import sys

import pytest

from characters.ingest.recordings import BUNDLED_DATASET, RecordingError, RecordingSource
from tests.support.marvel_data import ROOT, SHARED_CHARACTERS_FULL, require_shared


def character(n, **extra):
    return {"id": n, "name": f"Character {n}", **extra}


def envelope(offset, results, total=None):
    return {
        "code": 200,
        "attributionText": "Data provided by Marvel. © 2022 MARVEL",
        "data": {"offset": offset, "count": len(results), "total": total, "results": results},
    }


def ids(source):
    return [[r.id for r in page.records] for page in source]


@pytest.fixture
def recordings(tmp_path):
    folder = tmp_path / "pages"
    folder.mkdir()
    # Written out of order, one gzipped: read in data.offset order.
    (folder / "b.json").write_text(json.dumps(envelope(3, [character(4), character(5)], 6)))
    (folder / "a.json.gz").write_bytes(
        gzip.compress(json.dumps(envelope(0, [character(1), character(2), character(3)])).encode())
    )
    (folder / "c.json").write_text(json.dumps(envelope(5, [character(6)])))
    (folder / "notes.txt").write_text("ignored")
    return folder


def test_a_directory_is_read_in_offset_order_and_rebatched(recordings):
    source = RecordingSource(recordings, page_size=2)
    assert source.total == 6
    assert ids(source) == [[1, 2], [3, 4], [5, 6]]
    assert [page.offset for page in source] == [0, 2, 4]
    assert "Marvel" in source.attribution


def test_offset_and_max_offset_select_pages_like_the_api(recordings):
    assert ids(RecordingSource(recordings, page_size=2, offset=3)) == [[4, 5], [6]]
    # Pages start while their offset is below max_offset (the loader's OFFSET loop).
    assert ids(RecordingSource(recordings, page_size=2, max_offset=3)) == [[1, 2], [3, 4]]
    assert ids(RecordingSource(recordings, page_size=2, offset=10)) == []


def test_one_envelope_an_array_and_gzip_of_either(tmp_path):
    single = tmp_path / "page.json"
    single.write_text(json.dumps(envelope(100, [character(1), character(2)])))
    assert [p.offset for p in RecordingSource(single)] == [100]

    array = tmp_path / "array.json"
    array.write_text(json.dumps([character(7), {"id": 8}, character(9)]))
    pages = list(RecordingSource(array))
    assert [r.id for r in pages[0].records] == [7, 9]
    assert pages[0].skipped[0].offset == 1

    packed = tmp_path / "array.gz"  # detected by content, not by name
    packed.write_bytes(gzip.compress(array.read_bytes()))
    assert ids(RecordingSource(packed)) == [[7, 9]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "malformed JSON"),
        (b'{"data": {"results": 5}}', "not a Marvel response envelope"),
        (b'{"code": 401, "data": {"results": []}}', "error response"),
        (b"\x1f\x8b\x08\x00broken", "bad gzip"),
    ],
)
def test_bad_files_are_reported_by_name(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=message) as caught:
        list(RecordingSource(path))
    assert "bad.json" in str(caught.value)


def test_missing_and_empty_paths(tmp_path):
    with pytest.raises(RecordingError, match="no such file"):
        RecordingSource(tmp_path / "nope")
    with pytest.raises(RecordingError, match="no \\*.json"):
        RecordingSource(tmp_path)


def test_the_bundled_data_set_holds_all_1561_characters_with_attribution():
    body = json.loads(gzip.decompress(BUNDLED_DATASET.read_bytes()))
    assert body["attributionText"] == "Data provided by Marvel. © 2022 MARVEL"
    results = body["data"]["results"]
    assert len(results) == len({r["id"] for r in results}) == 1561
    # Only the fields the models use.
    assert set(results[0]) == {
        "id",
        "name",
        "description",
        "modified",
        "thumbnail",
        "resourceURI",
        "comics",
        "urls",
    }
    assert set(results[0]["comics"]) == {"available", "items"}
    source = RecordingSource(BUNDLED_DATASET)
    pages = list(source)
    assert sum(len(p.records) for p in pages) == 1561
    assert not any(p.skipped for p in pages)
    assert BUNDLED_DATASET.stat().st_size < 400_000


def test_the_bundled_data_set_matches_the_recordings():
    """The same records as the recordings it is derived from, and rebuilt byte for byte."""
    require_shared()
    from_recordings = [r for page in RecordingSource(SHARED_CHARACTERS_FULL) for r in page.records]
    bundled = [r for page in RecordingSource(BUNDLED_DATASET) for r in page.records]
    assert sorted(bundled, key=lambda r: r.id) == sorted(from_recordings, key=lambda r: r.id)
    check = subprocess.run(
        [
            sys.executable,
            "scripts/build_marvel_dataset.py",
            "--check",
            "--source",
            SHARED_CHARACTERS_FULL,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
