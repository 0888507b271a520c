"""Read recorded Marvel data from files: the ``file`` source of ``seed_marvel``.

``path`` may be
- a directory of recorded envelopes (``*.json`` and ``*.json.gz``, read in ``data.offset`` order),
- one envelope file (``{"code": 200, "data": {"offset": ..., "results": [...]}}``),
- a JSON array of raw character objects,
- gzip of either (the bundled data set is a gzipped envelope).

Records get an absolute position (the envelope's ``data.offset`` plus their index, or their
index in an array), are re-batched into pages of ``page_size`` and parsed with the same
validation as API responses. ``offset``/``max_offset`` select pages as the API loop does.

A file's JSON (after decompression) may hold at most ``max_bytes``: gzip is decompressed as a
stream and given up past that, so a small bomb cannot fill the memory.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from characters.ingest.records import InvalidEnvelope, ParsedPage, parse_envelope, parse_results

BUNDLED_DATASET = Path(__file__).resolve().parent.parent / "data" / "characters.json.gz"
# The bundled data set is 2 MB of JSON; Marvel's pages are far smaller.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class RecordingError(Exception):
    """A file that cannot be read as recorded Marvel data (the message names it)."""


@dataclass(frozen=True, slots=True)
class _Chunk:
    offset: int
    results: list
    total: int | None
    attribution: str
    label: str


def _read_capped(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, gunzipped when it starts with gzip's magic; at most ``max_bytes``."""
    too_large = RecordingError(
        f"{path}: holds more than {max_bytes} bytes of JSON (MARVELSITE_MAX_RECORDING_BYTES); "
        "split it into several files in a folder"
    )
    try:
        with path.open("rb") as file:
            if file.read(2) != b"\x1f\x8b":
                if path.stat().st_size > max_bytes:
                    raise too_large
                file.seek(0)
                return file.read()
            file.seek(0)
            with gzip.GzipFile(fileobj=file) as unzipped:
                raw = unzipped.read(max_bytes + 1)  # decompresses no further than that
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise RecordingError(f"{path}: bad gzip data: {exc}") from None
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise too_large
    return raw


def load_json(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> object:
    """Parse a ``.json`` or gzip file (detected by its magic bytes, not its name)."""
    raw = _read_capped(path, max_bytes)
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordingError(f"{path}: malformed JSON: {exc}") from None
    except RecursionError:
        raise RecordingError(f"{path}: malformed JSON: nested too deeply") from None


def _chunk_from(path: Path, max_bytes: int) -> _Chunk:
    body = load_json(path, max_bytes)
    if isinstance(body, list):
        return _Chunk(0, body, len(body), "", path.name)
    try:
        envelope = parse_envelope(body)
    except InvalidEnvelope as exc:
        raise RecordingError(
            f"{path}: not a Marvel response envelope or a JSON array of characters ({exc})"
        ) from None
    code = body.get("code", 200)
    if code not in (200, "200"):
        raise RecordingError(f"{path}: recorded an error response (code {code!r})")
    return _Chunk(
        envelope.offset, envelope.results, envelope.total, envelope.attribution, path.name
    )


def recording_files(path: Path) -> list[Path]:
    files = [
        p
        for p in path.iterdir()
        if p.is_file() and (p.name.endswith(".json") or p.name.endswith(".json.gz"))
    ]
    if not files:
        raise RecordingError(f"{path}: no *.json or *.json.gz files")
    return files


class RecordingSource:
    """Recorded data at ``path`` as parsed pages; ``total`` is the number of records held."""

    def __init__(
        self,
        path: Path | str,
        *,
        page_size: int = 100,
        offset: int = 0,
        max_offset: int | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.page_size = page_size
        self.offset = offset
        self.max_offset = max_offset
        self.attribution = ""
        if self.path.is_dir():
            # One pass to order the files by their recorded data.offset (files are small;
            # only one is held in memory at a time).
            index = []
            for file in recording_files(self.path):
                chunk = _chunk_from(file, max_bytes)
                index.append((chunk.offset, file.name, len(chunk.results), file))
                self.attribution = self.attribution or chunk.attribution
            index.sort()
            self._files = [file for *_, file in index]
            self._loaded: _Chunk | None = None
            self.total = max(start + count for start, _name, count, _file in index)
        elif self.path.is_file():
            self._files = []
            self._loaded = _chunk_from(self.path, max_bytes)
            self.attribution = self._loaded.attribution
            self.total = self._loaded.offset + len(self._loaded.results)
        else:
            raise RecordingError(f"{self.path}: no such file or directory")

    def _chunks(self) -> Iterator[_Chunk]:
        if self._loaded is not None:
            yield self._loaded
        for file in self._files:
            yield _chunk_from(file, self.max_bytes)

    def __iter__(self) -> Iterator[ParsedPage]:
        """Parsed pages of at most ``page_size`` records from position ``offset``; like the
        API loop, pages start while their offset is below ``max_offset``."""
        pending: list = []
        pending_offset = 0
        label = ""

        def flush() -> ParsedPage:
            records, skipped = parse_results(pending, pending_offset)
            return ParsedPage(pending_offset, records, skipped, self.total, label)

        for chunk in self._chunks():
            label = chunk.label
            for index, raw in enumerate(chunk.results):
                position = chunk.offset + index
                if position < self.offset:
                    continue
                if pending and position != pending_offset + len(pending):
                    # A gap or an overlap between files: start a new page here.
                    yield flush()
                    pending = []
                if not pending:
                    if self.max_offset is not None and position >= self.max_offset:
                        return  # like the API loop: no page starts at or past max_offset
                    pending_offset = position
                pending.append(raw)
                if len(pending) >= self.page_size:
                    yield flush()
                    pending = []
        if pending:
            yield flush()
