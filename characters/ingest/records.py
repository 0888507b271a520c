"""Parse and validate raw Marvel API objects into typed records.

One raw character dict (as found in ``data.results`` of a ``/v1/public/characters``
envelope, or in the bundled data set) becomes a :class:`CharacterRecord`, or raises
:class:`InvalidRecord` with a human reason. Nothing here touches the database or the
network: the API client and the recordings reader both feed :func:`parse_results`.

The plain text fields are declared on the record itself (``text(key, max_len)``: where the
value is in the raw object, how long it may be) and read by one loop; what needs a rule of its
own (ids, the name, comics, urls, Marvel's dates) is parsed by hand below, because each one
recovers differently (a bad comic item is dropped with a warning, the record kept).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

# Mirrors characters.models (kept here so parsing needs no Django): ids at or above
# LOCAL_ID_START belong to objects created on this site, never to Marvel.
LOCAL_ID_START = 1_000_000_000
NAME_MAX = 200
TITLE_MAX = 500
URL_MAX = 300
EXTENSION_MAX = 10
# What both backends store: Django's PositiveIntegerField, and datetimes a day inside Python's
# range (so no time zone shifts them out of it).
COUNT_MAX = 2**31 - 1
MODIFIED_MIN = datetime(1, 1, 2, tzinfo=UTC)
MODIFIED_MAX = datetime(9999, 12, 30, tzinfo=UTC)
# A MongoDB document holds 16 MiB; a character's text may be stored twice (its field, and
# Marvel's latest value kept in local_edits when edited here).
DOCUMENT_MAX_BYTES = 16 * 1024 * 1024
DOCUMENT_OVERHEAD_BYTES = 64 * 1024
# C0 and C1 control characters but tab, newline and carriage return; NUL included.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
WEB_SCHEMES = ("http://", "https://")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_WALL_CLOCK = datetime(1970, 1, 1)


class InvalidRecord(ValueError):
    """A raw object that cannot be imported; ``str(exc)`` is the reason."""


class InvalidEnvelope(ValueError):
    """A response body that is not a Marvel ``{"code": 200, "data": {...}}`` envelope."""


def text(key: str, max_len: int | None = None):
    """A text field read from ``key`` ("a.b": key b of object a); absent or null is ""."""
    return field(default="", metadata={"key": key, "max_len": max_len})


@dataclass(frozen=True, slots=True)
class ComicRef:
    """A comic as listed in a character's ``comics.items``."""

    id: int
    title: str
    resource_uri: str = ""


@dataclass(frozen=True, slots=True)
class CharacterRecord:
    id: int
    name: str
    description: str = text("description")
    resource_uri: str = text("resourceURI", URL_MAX)
    thumbnail_path: str = text("thumbnail.path", URL_MAX)
    thumbnail_extension: str = text("thumbnail.extension", EXTENSION_MAX)
    modified: datetime | None = None
    comics_available: int = 0
    urls: tuple[tuple[str, str], ...] = ()
    comics: tuple[ComicRef, ...] = ()
    # Non-fatal problems (e.g. one comic item without an id, dropped).
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def urls_json(self) -> list[dict[str, str]]:
        """``urls`` as stored in ``Character.urls``."""
        return [{"type": kind, "url": url} for kind, url in self.urls]


TEXT_FIELDS = [f for f in fields(CharacterRecord) if "key" in f.metadata]


@dataclass(frozen=True, slots=True)
class Skipped:
    """A raw record that was not imported, with where it was and why."""

    offset: int | None
    id: object
    name: object
    reason: str

    def describe(self) -> str:
        where = f"record at offset {self.offset}" if self.offset is not None else "record"
        ident = []
        if self.id is not None:
            ident.append(f"id={self.id!r}")
        if self.name is not None:
            ident.append(f"name={str(self.name)[:60]!r}")
        label = f"{where} ({', '.join(ident)})" if ident else where
        return f"{label} skipped: {self.reason}"


@dataclass(slots=True)
class ParsedPage:
    """One batch of parsed records from a source, with its position in the input."""

    offset: int
    records: list[CharacterRecord]
    skipped: list[Skipped]
    total: int | None = None  # the source's total number of records, when known
    label: str = ""  # e.g. a file name, for messages

    @property
    def size(self) -> int:
        return len(self.records) + len(self.skipped)


@dataclass(frozen=True, slots=True)
class Envelope:
    """The parts of a Marvel response envelope the sources need."""

    offset: int
    total: int | None
    count: int
    results: list
    attribution: str = ""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _object(value: object, what: str) -> Mapping:
    """``value`` if it is a JSON object; null is an empty one."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRecord(f"{what} must be an object, got {type(value).__name__}")
    return value


def _list(value: object, what: str) -> list:
    """``value`` if it is a JSON array; null (or absent) is an empty one."""
    value = value or []
    if not isinstance(value, list):
        raise InvalidRecord(f"{what} must be a list, got {type(value).__name__}")
    return value


def _marvel_id(value: object, what: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not _is_int(value):
        raise InvalidRecord(f"{what} must be an integer, got {type(value).__name__}")
    if value <= 0:
        raise InvalidRecord(f"{what} must be positive, got {value}")
    if value >= LOCAL_ID_START:
        raise InvalidRecord(f"{what} {value} is in the local id range (>= {LOCAL_ID_START})")
    return value


def clean_text(value: str, what: str) -> str:
    """``value`` without control characters; :class:`InvalidRecord` when it cannot be stored
    (an unpaired surrogate has no UTF-8 encoding)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRecord(
            f"{what} cannot be stored: an unpaired surrogate at character {exc.start}"
        ) from None
    return CONTROL_CHARACTERS.sub("", value)


def is_web_url(value: str) -> bool:
    """Only http(s) URLs are stored: others (javascript:, data:, ...) would reach links and
    images."""
    return value.lower().startswith(WEB_SCHEMES)


def _text(raw: Mapping, key: str, max_len: int | None) -> str:
    *parents, name = key.split(".")
    for parent in parents:
        raw = _object(raw.get(parent), parent)
    value = raw.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRecord(f"{name} must be a string, got {type(value).__name__}")
    value = clean_text(value, key).strip()
    if max_len is not None and len(value) > max_len:
        raise InvalidRecord(f"{name} is longer than {max_len} characters")
    return value


def is_unknown_date(parsed: datetime) -> bool:
    """Marvel's "unknown": the epoch, as an instant (1969-12-31T19:00:00-0500) or as a
    wall-clock time in any offset (1970-01-01T00:00:00+0100)."""
    return parsed.astimezone(UTC) == EPOCH or parsed.replace(tzinfo=None) == EPOCH_WALL_CLOCK


def parse_modified(value: object) -> datetime | None:
    """Marvel's ``modified`` ("2014-04-29T14:18:17-0400") as an aware UTC datetime.

    Marvel's "unknown" ("-0001-11-30T00:00:00-0500", the epoch: is_unknown_date), and
    anything unparseable, gives None (the model allows it).
    """
    if not isinstance(value, str) or not value or value.startswith("-"):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if is_unknown_date(parsed):
        return None
    return to_milliseconds(parsed)


def to_milliseconds(value: datetime | None) -> datetime | None:
    """`value` as aware UTC at millisecond precision (what MongoDB keeps, so what both
    backends round-trip); a naive value is taken as UTC."""
    if value is None:
        return None
    if value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def comic_id_from_uri(uri: object) -> int:
    """The comic id at the end of ``http://gateway.marvel.com/v1/public/comics/21366``."""
    if not isinstance(uri, str):
        raise InvalidRecord("comic resourceURI must be a string")
    uri = clean_text(uri, "comic resourceURI")
    head, _, tail = uri.rstrip("/").rpartition("/")
    if not head.endswith("/comics") or not tail.isascii() or not tail.isdigit():
        raise InvalidRecord(f"comic resourceURI {uri[:80]!r} has no comic id")
    return _marvel_id(int(tail), "comic id")


def _comic_item(item: object) -> ComicRef:
    if not isinstance(item, Mapping):
        raise InvalidRecord(f"comic item must be an object, got {type(item).__name__}")
    uri = item.get("resourceURI")
    comic_id = comic_id_from_uri(uri)
    uri = clean_text(uri, "comic resourceURI")
    title = item.get("name")
    if isinstance(title, str):
        title = clean_text(title, f"comic {comic_id} name").strip()
    if not isinstance(title, str) or not title:
        raise InvalidRecord(f"comic {comic_id} has no name")
    keep_uri = len(uri) <= URL_MAX and is_web_url(uri)
    return ComicRef(comic_id, title[:TITLE_MAX], uri if keep_uri else "")


def _name(raw: Mapping) -> str:
    name = raw.get("name")
    if name is None:
        raise InvalidRecord("missing name")
    if not isinstance(name, str):
        raise InvalidRecord(f"name must be a string, got {type(name).__name__}")
    name = clean_text(name, "name").strip()
    if not name:
        raise InvalidRecord("empty name")
    if len(name) > NAME_MAX:
        raise InvalidRecord(f"name is longer than {NAME_MAX} characters")
    return name


class _PassedOver:
    """What a reader hands on for a record nested too deeply to decode (its JSON passed over):
    parsed, it is skipped with that reason."""

    def __repr__(self) -> str:
        return "NESTED_TOO_DEEPLY"


NESTED_TOO_DEEPLY = _PassedOver()


def parse_character(raw: object) -> CharacterRecord:
    """Validate one raw character object; raise :class:`InvalidRecord` when unusable."""
    if raw is NESTED_TOO_DEEPLY:
        raise InvalidRecord("its JSON is nested too deeply to read; the record was passed over")
    if not isinstance(raw, Mapping):
        raise InvalidRecord(f"a character must be a JSON object, got {type(raw).__name__}")
    if raw.get("id") is None:
        raise InvalidRecord("missing id")
    char_id = _marvel_id(raw["id"], "id")
    name = _name(raw)
    texts = {f.name: _text(raw, f.metadata["key"], f.metadata["max_len"]) for f in TEXT_FIELDS}

    warnings: list[str] = []
    for key in ("resource_uri", "thumbnail_path"):
        if texts[key] and not is_web_url(texts[key]):
            warnings.append(f"{key} dropped: not an http(s) URL")
            texts[key] = ""
    comics_raw = _object(raw.get("comics"), "comics")
    comics: dict[int, ComicRef] = {}
    for index, item in enumerate(_list(comics_raw.get("items"), "comics.items")):
        try:
            ref = _comic_item(item)
        except InvalidRecord as exc:
            warnings.append(f"comic item {index} dropped: {exc}")
            continue
        comics.setdefault(ref.id, ref)
    available = comics_raw.get("available")
    if available is None:
        available = len(comics)
    if not _is_int(available) or available < 0:
        raise InvalidRecord("comics.available must be a non-negative integer")
    if available > COUNT_MAX:
        raise InvalidRecord(f"comics.available {available} is past the largest count {COUNT_MAX}")

    urls = []
    for entry in _list(raw.get("urls"), "urls"):
        if (
            isinstance(entry, Mapping)
            and isinstance(entry.get("type"), str)
            and isinstance(entry.get("url"), str)
        ):
            url = clean_text(entry["url"], "urls.url").strip()
            if is_web_url(url):
                urls.append((clean_text(entry["type"], "urls.type").strip(), url))
            else:
                warnings.append("a urls entry was dropped: not an http(s) URL")
        else:
            warnings.append("a malformed urls entry was dropped")

    record = CharacterRecord(
        id=char_id,
        name=name,
        **texts,
        modified=_modified(raw.get("modified")),
        # The API caps the list at 20 items; `available` is the true count (never below it).
        comics_available=max(available, len(comics)),
        urls=tuple(urls),
        comics=tuple(comics.values()),
        warnings=tuple(warnings),
    )
    size = estimated_document_bytes(record)
    if size > DOCUMENT_MAX_BYTES:
        raise InvalidRecord(
            f"too large: about {size // 1024 // 1024} MiB stored, over the "
            f"{DOCUMENT_MAX_BYTES // 1024 // 1024} MiB a MongoDB document holds"
        )
    return record


def _modified(value: object) -> datetime | None:
    """``modified`` where both backends can store it (past Python's range is an error)."""
    try:
        modified = parse_modified(value)
        stored = modified is None or MODIFIED_MIN <= modified <= MODIFIED_MAX
    except (OverflowError, ValueError):
        stored = False
    if not stored:
        raise InvalidRecord(
            f"modified {str(value)[:40]!r} is outside the dates stored "
            f"({MODIFIED_MIN.date()} to {MODIFIED_MAX.date()} UTC)"
        )
    return modified


def estimated_document_bytes(record: CharacterRecord) -> int:
    """An upper bound of the character's stored size: each text twice (see
    DOCUMENT_MAX_BYTES) plus room for keys, numbers and dates."""
    texts = [record.name, *(getattr(record, f.name) for f in TEXT_FIELDS)]
    texts += [part for pair in record.urls for part in pair]
    return 2 * sum(len(value.encode()) + 16 for value in texts) + DOCUMENT_OVERHEAD_BYTES


def _peek(raw: object, key: str) -> object:
    if isinstance(raw, Mapping):
        value = raw.get(key)
        if value is None or isinstance(value, int | float):
            return value
        if isinstance(value, str):
            return CONTROL_CHARACTERS.sub("", value[:60])
        try:
            return repr(value)[:40]
        except RecursionError:
            return f"<deeply nested {type(value).__name__}>"
    return None


def parse_results(
    results: Iterable[object], first_offset: int | None = 0
) -> tuple[list[CharacterRecord], list[Skipped]]:
    """Parse raw character objects; malformed ones are returned as :class:`Skipped`."""
    records: list[CharacterRecord] = []
    skipped: list[Skipped] = []
    for index, raw in enumerate(results):
        offset = None if first_offset is None else first_offset + index
        try:
            records.append(parse_character(raw))
        except InvalidRecord as exc:
            skipped.append(Skipped(offset, _peek(raw, "id"), _peek(raw, "name"), str(exc)))
        except Exception as exc:
            reason = f"cannot be parsed: {type(exc).__name__}: {str(exc)[:200]}"
            skipped.append(Skipped(offset, _peek(raw, "id"), _peek(raw, "name"), reason))
    return records, skipped


def parse_envelope(body: object) -> Envelope:
    if not isinstance(body, Mapping):
        raise InvalidEnvelope(f"expected a JSON object, got {type(body).__name__}")
    data = body.get("data")
    if not isinstance(data, Mapping):
        raise InvalidEnvelope("no data object")
    results = data.get("results")
    if not isinstance(results, list):
        raise InvalidEnvelope("no data.results list")

    def number(key: str, default: int | None) -> int | None:
        value = data.get(key)
        if value is None:
            return default
        if not _is_int(value) or value < 0:
            raise InvalidEnvelope(f"data.{key} must be a non-negative integer")
        return value

    attribution = body.get("attributionText")
    return Envelope(
        offset=number("offset", 0),
        total=number("total", None),
        count=number("count", len(results)),
        results=results,
        attribution=attribution if isinstance(attribution, str) else "",
    )
