#!/usr/bin/env python3
"""Build characters/data/characters.json.gz from recorded Marvel API responses.

    python scripts/build_marvel_dataset.py [--source ../shared/marvel-api/characters-full] [--check]

Reads every recorded ``/v1/public/characters`` envelope in the source directory and writes
one gzipped envelope, in Marvel's own shape (so ``seed_marvel`` parses it like an API page),
keeping only the fields the models use and Marvel's attribution. The output is
deterministic (sorted keys, gzip mtime 0): rebuilding from the same input gives the same
bytes, and ``--check`` fails when the committed file is out of date.

This is a development tool: the product only reads the file it writes, never the source.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent / "shared" / "marvel-api" / "characters-full"
DEFAULT_OUTPUT = ROOT / "characters" / "data" / "characters.json.gz"
SOURCE_NOTE = (
    "Derived from recorded GET /v1/public/characters responses (offsets 0-1550, 1,561 "
    "characters; the Marvel API was retired in 2025): only id, name, description, modified, "
    "thumbnail, resourceURI, comics (available, items) and urls are kept."
)


def compact(character: dict) -> dict:
    comics = character.get("comics") or {}
    thumbnail = character.get("thumbnail") or {}
    return {
        "id": character.get("id"),
        "name": character.get("name"),
        "description": character.get("description") or "",
        "modified": character.get("modified"),
        "thumbnail": {"path": thumbnail.get("path"), "extension": thumbnail.get("extension")},
        "resourceURI": character.get("resourceURI"),
        "comics": {
            "available": comics.get("available", 0),
            "items": [
                {"resourceURI": item.get("resourceURI"), "name": item.get("name")}
                for item in comics.get("items") or []
            ],
        },
        "urls": [{"type": u.get("type"), "url": u.get("url")} for u in character.get("urls") or []],
    }


def build(source: Path) -> bytes:
    envelopes = []
    for path in sorted(source.glob("*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))
        envelopes.append((body["data"]["offset"], path.name, body))
    if not envelopes:
        raise SystemExit(f"{source}: no *.json envelopes")
    envelopes.sort()
    seen: set[int] = set()
    results = []
    for _offset, _name, body in envelopes:
        for character in body["data"]["results"]:
            if character.get("id") in seen:
                continue
            seen.add(character.get("id"))
            results.append(compact(character))
    first = envelopes[0][2]
    dataset = {
        "code": 200,
        "status": "Ok",
        "copyright": first.get("copyright"),
        "attributionText": first.get("attributionText"),
        "attributionHTML": first.get("attributionHTML"),
        "source": SOURCE_NOTE,
        "data": {"offset": 0, "limit": len(results), "total": len(results), "count": len(results),
                 "results": results},
    }  # fmt: skip
    text = json.dumps(dataset, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1].strip())
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--check", action="store_true", help="fail if --output differs from a fresh build"
    )
    args = parser.parse_args(argv)
    data = build(args.source)
    if args.check:
        current = args.output.read_bytes() if args.output.exists() else b""
        if current != data:
            print(f"{args.output} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    count = len(json.loads(gzip.decompress(data))["data"]["results"])
    print(f"wrote {args.output} ({len(data):,} bytes, {count} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
