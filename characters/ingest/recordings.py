"""Read recorded Marvel data from files: the ``file`` source of ``seed_marvel``.

``path`` may be
- a directory of recorded envelopes (``*.json`` and ``*.json.gz``, read in ``data.offset`` order),
- one envelope file (``{"code": 200, "data": {"offset": ..., "results": [...]}}``),
- a JSON array of raw character objects,
- gzip of either (the bundled data set is a gzipped envelope).

Records get an absolute position (the envelope's ``data.offset`` plus their index, or their
index in an array), are re-batched into pages of ``page_size`` and parsed with the same
validation as API responses. ``offset``/``max_offset`` select pages as the API loop does.

Files are read as streams, one record at a time, so memory follows the page, not the file. A
file's JSON (after decompression) may hold at most ``max_bytes``: reading stops there, so a
small gzip bomb costs little time or memory. A record nested too deeply for Python's decoder
is passed over (its brackets matched, in runs) and skipped; the rest of its file is read.
"""

from __future__ import annotations

import codecs
import gzip
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from characters.ingest.records import (
    NESTED_TOO_DEEPLY,
    InvalidEnvelope,
    ParsedPage,
    parse_envelope,
    parse_results,
)

BUNDLED_DATASET = Path(__file__).resolve().parent.parent / "data" / "characters.json.gz"
# The bundled data set is 2 MB of JSON; Marvel's pages are far smaller.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class RecordingError(Exception):
    """A file that cannot be read as recorded Marvel data (the message names it)."""


class _NestedTooDeeply(RecordingError):
    """A value the decoder cannot read for its depth: a record of the results is skipped."""


CHUNK_CHARS = 64 * 1024
JSON_WHITESPACE = " \t\n\r"
DECODER = json.JSONDecoder()
NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")
# What passing over a value looks for, a run at a time (so a file of brackets costs no more
# than reading it): brackets of one kind, or a quote opening a string; in a string, all of it
# up to its closing quote (escapes included), or to the chunk's end.
BRACKETS_OR_QUOTE = re.compile(r'\[+|\]+|\{+|\}+|"')
STRING_BODY = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
CLOSES = {"]": "[", "}": "{"}


class _JSONStream:
    """A file's JSON read a value at a time: the buffer holds the value being read and the
    rest of one chunk, never the whole file. ``max_bytes`` caps what is read (after gzip)."""

    def __init__(self, binary, where: Path, max_bytes: int) -> None:
        self.binary, self.where, self.max_bytes = binary, where, max_bytes
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.buffer, self.pos, self.read_bytes, self.eof = "", 0, 0, False

    def malformed(self, why: str) -> RecordingError:
        return RecordingError(f"{self.where}: malformed JSON: {why}")

    def _fill(self) -> bool:
        """Read more (as much again as the value being read: linear in its size); False at
        the end of the file."""
        if self.eof:
            return False
        data = self.binary.read(max(CHUNK_CHARS, len(self.buffer) - self.pos))
        self.read_bytes += len(data)
        if self.read_bytes > self.max_bytes:
            raise RecordingError(
                f"{self.where}: holds more than {self.max_bytes} bytes of JSON "
                "(MARVELSITE_MAX_RECORDING_BYTES); split it into several files in a folder"
            )
        self.eof = not data
        self.buffer = self.buffer[self.pos :] + self.decoder.decode(data, final=self.eof)
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next character that is not whitespace; "" at the end."""
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in JSON_WHITESPACE:
                self.pos += 1
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._fill():
                return ""

    def take(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise self.malformed(f"expected {char!r}, found {found[:1] or 'the end'!r}")
        self.pos += 1

    def value(self) -> object:
        self.peek()
        while True:
            try:
                value, end = DECODER.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                if not self._cut_short(exc) or not self._fill():
                    raise self.malformed(str(exc)) from None
                continue
            except RecursionError:
                raise _NestedTooDeeply(f"{self.where}: malformed JSON: nested too deeply") from None
            if NUMBER_TAIL.fullmatch(self.buffer, end) and self._fill():
                continue  # a number at the end of the chunk may go on in the next one
            self.pos = end
            return value

    def _cut_short(self, error: json.JSONDecodeError) -> bool:
        """Whether the error may only be the chunk's end: a string still open, or a failure
        near the end (a token cut in two). Anything else is malformed, read no further."""
        return error.msg.startswith("Unterminated string") or error.pos > len(self.buffer) - 16

    def pass_over(self) -> None:
        """Move past the array or object that comes next without decoding it (one nested too
        deeply for the decoder): its brackets matched outside strings, what was passed
        dropped from the buffer as it goes. Nothing else in it is checked."""
        open_brackets = bytearray()  # one byte a bracket: bounded by what a file may hold
        while True:
            found = BRACKETS_OR_QUOTE.search(self.buffer, self.pos)
            if found is None:
                self.pos = len(self.buffer)
                self._fill_or_fail()
                continue
            run, self.pos = found.group(), found.end()
            if run == '"':
                self._pass_string()
            elif run[0] in "[{":
                open_brackets += run.encode()
            else:
                closed = min(len(run), len(open_brackets))
                opener = CLOSES[run[0]].encode()
                if not closed or open_brackets.count(opener, -closed) != closed:
                    raise self.malformed(f"{run[0]!r} closes no bracket of its kind")
                del open_brackets[-closed:]
                if not open_brackets:  # closed: any brackets left are its container's
                    self.pos -= len(run) - closed
                    return

    def _pass_string(self) -> None:
        """Move past the rest of a string whose opening quote was passed."""
        while True:
            end = STRING_BODY.match(self.buffer, self.pos).end()
            if end < len(self.buffer) and self.buffer[end] == '"':
                self.pos = end + 1
                return
            self.pos = end  # the chunk ends in the string, or right after a backslash
            self._fill_or_fail()

    def _fill_or_fail(self) -> None:
        if not self._fill():
            raise self.malformed("nested too deeply, and its brackets or strings never close")

    def array(self) -> Iterator[object]:
        """Yield the items of the array that comes next, one at a time; an item nested too
        deeply to decode is passed over and yielded as NESTED_TOO_DEEPLY, so a record's depth
        costs that record only."""
        self.take("[")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            try:
                item = self.value()
            except _NestedTooDeeply:
                if self.peek() not in ("[", "{"):
                    raise
                self.pass_over()
                item = NESTED_TOO_DEEPLY
            yield item
            if self.peek() != ",":
                self.take("]")
                return
            self.pos += 1

    def object(self, nested: dict) -> Iterator[object]:
        """The object that comes next, as a dict; a key in ``nested`` is read by its generator
        (whose items are yielded) instead of as one value."""
        found: dict = {}
        self.take("{")
        if self.peek() == "}":
            self.pos += 1
            return found
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise self.malformed("an object key must be a string")
            self.take(":")
            found[key] = (yield from nested[key]()) if key in nested else self.value()
            if self.peek() != ",":
                self.take("}")
                return found
            self.pos += 1


def _records(stream: _JSONStream) -> Iterator[object]:
    """Yield a recording's raw records; return its envelope without them (``data.results``
    an empty list), or None for a JSON array of records."""

    def results():
        if stream.peek() == "[":
            yield from stream.array()
            return []
        return stream.value()

    def data():
        return (
            (yield from stream.object({"results": results}))
            if stream.peek() == "{"
            else stream.value()
        )

    if stream.peek() == "[":
        yield from stream.array()
        body = None
    else:
        body = (
            (yield from stream.object({"data": data})) if stream.peek() == "{" else stream.value()
        )
    if stream.peek():
        raise stream.malformed("extra data after the JSON value")
    return body


def _recording(path: Path, max_bytes: int) -> Iterator[object]:
    """:func:`_records` of the file at ``path`` (gzip detected by its magic bytes)."""
    try:
        with path.open("rb") as file:
            gzipped = file.read(2) == b"\x1f\x8b"
            file.seek(0)
            binary = gzip.GzipFile(fileobj=file) if gzipped else file
            return (yield from _records(_JSONStream(binary, path, max_bytes)))
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise RecordingError(f"{path}: bad gzip data: {exc}") from None
    except UnicodeDecodeError as exc:
        raise RecordingError(f"{path}: malformed JSON: {exc}") from None
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read: {exc.strerror or exc}") from None


@dataclass(frozen=True, slots=True)
class _File:
    """One recorded file: where its records start, how many it holds, and what it says."""

    path: Path
    offset: int
    count: int
    total: int | None
    attribution: str


def scan(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> _File:
    """Read a file through once, holding one record at a time: its envelope and record count."""
    records = _recording(path, max_bytes)
    count = 0
    while True:
        try:
            next(records)
        except StopIteration as end:
            body = end.value
            break
        count += 1
    if body is None:
        return _File(path, 0, count, count, "")
    try:
        envelope = parse_envelope(body)
    except InvalidEnvelope as exc:
        raise RecordingError(
            f"{path}: not a Marvel response envelope or a JSON array of characters ({exc})"
        ) from None
    code = body.get("code", 200)
    if code not in (200, "200"):
        raise RecordingError(f"{path}: recorded an error response (code {code!r})")
    return _File(path, envelope.offset, count, envelope.total, envelope.attribution)


def recording_files(path: Path) -> list[Path]:
    files = [
        p
        for p in path.iterdir()
        if p.is_file() and (p.name.endswith(".json") or p.name.endswith(".json.gz"))
    ]
    if not files:
        raise RecordingError(f"{path}: no *.json or *.json.gz files")
    return files


def _file_order(file: _File) -> tuple[int, str]:
    return file.offset, file.path.name


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
            paths = recording_files(self.path)
        elif self.path.is_file():
            paths = [self.path]
        else:
            raise RecordingError(f"{self.path}: no such file or directory")
        # A first pass, one record at a time, checks each file and orders them by their
        # recorded data.offset; the pages read them again.
        self._files = sorted((scan(path, max_bytes) for path in paths), key=_file_order)
        self.attribution = next((f.attribution for f in self._files if f.attribution), "")
        self.total = max(file.offset + file.count for file in self._files)

    def __iter__(self) -> Iterator[ParsedPage]:
        """Parsed pages of at most ``page_size`` records from position ``offset``; like the
        API loop, pages start while their offset is below ``max_offset``."""
        pending: list = []
        pending_offset = 0
        label = ""

        def flush() -> ParsedPage:
            records, skipped = parse_results(pending, pending_offset)
            return ParsedPage(pending_offset, records, skipped, self.total, label)

        for file in self._files:
            label = file.path.name
            for index, raw in enumerate(_recording(file.path, self.max_bytes)):
                position = file.offset + index
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
