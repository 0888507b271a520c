#!/usr/bin/env python3
"""A deterministic synthetic catalogue, N times the bundled data set, for `seed_marvel --path`.

    .venv/bin/python bench/synthetic_catalogue.py OUT_DIR [--scale N] [--seed S] [--per-file K]

Writes OUT_DIR/characters-00000.json.gz, ...: gzipped Marvel response envelopes of K characters
each (``data.offset``, ``data.total``), the recording format ``seed_marvel --path`` reads.
Each record is written as soon as it is made: the catalogue is never held whole in memory
(what is held: the bundled set, and one integer per comic link, 4 bytes each).

Every distribution comes from the bundled set (characters/data/characters.json.gz), by
copying it N times and re-wiring the links at random:

- character i copies template character i mod 1561 (block b = i // 1561): its number of
  listed comics (0-20; the API lists at most 20), ``comics.available`` (up to 2,606), its
  description (most are empty), its image (a third are "image_not_available"), ``modified``,
  ``urls``; its name is the template's, with "Earth-b " before it for b >= 1, so a search
  finds the same share of names at every scale, and the first page by name (3-D Man, A-Bomb,
  ...) shows the same characters, with as many comics, as at 1x;
- comic j copies template comic j mod 8723: its title ("Earth-b " likewise) and its cast
  size (characters listing it: 1 for two thirds, up to 22 for the few crowded ones);
- the links are a random matching of those two degree sequences over the whole catalogue
  (any character may list any comic), with no comic listed twice by one character.

So N times the bundled set: 1,561 N characters, 8,723 N comics, 17,023 N links, with the same
histograms; the same scale and seed give the same bytes.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import json
import random
import sys
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "characters" / "data" / "characters.json.gz"
DEFAULT_SEED = 13
PER_FILE = 1000
# Far from Marvel's own ids (characters ~1,009,000-1,018,000, comics < 110,000) and below
# the site's local ids (1,000,000,000), so a synthetic catalogue never overwrites real rows.
CHARACTER_ID_START = 20_000_000
COMIC_ID_START = 20_000_000
API = "http://gateway.marvel.com/v1/public"


@dataclass(frozen=True)
class Template:
    """The bundled set, reduced to what the generator copies."""

    characters: list[dict]  # raw records, in the bundled order
    comic_titles: list[str]  # template comic k's title
    casts: list[int]  # template comic k's number of characters
    listed: list[int]  # template character c's number of listed comics
    attribution: str
    attribution_html: str

    @classmethod
    def load(cls, path: Path = BUNDLED) -> Template:
        with gzip.open(path, "rt", encoding="utf-8") as file:
            body = json.load(file)
        characters = body["data"]["results"]
        index: dict[str, int] = {}
        titles: list[str] = []
        casts: list[int] = []
        listed = []
        for character in characters:
            seen = set()
            for item in character["comics"]["items"]:
                uri = item["resourceURI"]
                if uri in seen:  # the parser keeps one link per comic
                    continue
                seen.add(uri)
                if uri not in index:
                    index[uri] = len(titles)
                    titles.append(item["name"])
                    casts.append(0)
                casts[index[uri]] += 1
            listed.append(len(seen))
        return cls(
            characters,
            titles,
            casts,
            listed,
            body.get("attributionText", ""),
            body.get("attributionHTML", ""),
        )


def variant(text: str, block: int) -> str:
    return text if block == 0 else f"Earth-{block} {text}"


class Catalogue:
    """N copies of the template, re-wired: ``records()`` yields raw character objects."""

    def __init__(self, scale: int, seed: int = DEFAULT_SEED, template: Template | None = None):
        if scale < 1:
            raise ValueError(f"scale must be >= 1, got {scale}")
        self.scale = scale
        self.seed = seed
        self.template = template or Template.load()
        t = self.template
        self.characters = len(t.characters) * scale
        self.comics = len(t.comic_titles) * scale
        self.links = sum(t.listed) * scale
        # Slot p of character i is at starts[i % 1561] + (i // 1561) * links-per-block.
        self._starts = [0]
        for count in t.listed:
            self._starts.append(self._starts[-1] + count)
        self._slots = self._wire(random.Random(seed))

    # --- the links: one comic index per slot ----------------------------------------------

    def _span(self, i: int) -> tuple[int, int]:
        block, c = divmod(i, len(self.template.characters))
        base = block * self._starts[-1]
        return base + self._starts[c], base + self._starts[c + 1]

    def _owner(self, p: int) -> int:
        block, rest = divmod(p, self._starts[-1])
        return block * len(self.template.characters) + bisect.bisect_right(self._starts, rest) - 1

    def _wire(self, rng: random.Random) -> array:
        """Each comic's cast size in slots, shuffled, dealt to the characters in order; then
        a character given one comic twice swaps the spare for a slot of another character
        that lacks it (both degree sequences stay exact)."""
        casts = self.template.casts
        slots = array("i")
        for j in range(self.comics):
            slots.extend([j] * casts[j % len(casts)])
        rng.shuffle(slots)
        for i in range(self.characters):
            start, stop = self._span(i)
            mine = set()
            for p in range(start, stop):
                if slots[p] not in mine:
                    mine.add(slots[p])
                    continue
                for _attempt in range(10_000):
                    q = rng.randrange(len(slots))
                    other_start, other_stop = self._span(self._owner(q))
                    theirs = slots[other_start:other_stop]
                    if slots[q] not in mine and slots[p] not in theirs:
                        slots[p], slots[q] = slots[q], slots[p]
                        mine.add(slots[p])
                        break
                else:  # pragma: no cover - needs a comic in nearly every character
                    raise RuntimeError(f"could not re-wire character {i}'s duplicate comic")
        return slots

    # --- the records --------------------------------------------------------------------------

    def comic_id(self, j: int) -> int:
        return COMIC_ID_START + j

    def comic_title(self, j: int) -> str:
        titles = self.template.comic_titles
        block, k = divmod(j, len(titles))
        return variant(titles[k], block)

    def record(self, i: int) -> dict:
        characters = self.template.characters
        block, c = divmod(i, len(characters))
        source = characters[c]
        start, stop = self._span(i)
        character_id = CHARACTER_ID_START + i
        items = [
            {
                "resourceURI": f"{API}/comics/{self.comic_id(j)}",
                "name": self.comic_title(j),
            }
            for j in self._slots[start:stop]
        ]
        return {
            "id": character_id,
            "name": variant(source["name"], block),
            "description": source["description"],
            "modified": source["modified"],
            "thumbnail": source["thumbnail"],
            "resourceURI": f"{API}/characters/{character_id}",
            "comics": {
                "available": max(source["comics"]["available"], len(items)),
                "returned": len(items),
                "items": items,
            },
            "urls": source["urls"],
        }

    def records(self) -> Iterator[dict]:
        for i in range(self.characters):
            yield self.record(i)

    # --- files ----------------------------------------------------------------------------------

    def write(self, folder: Path, per_file: int = PER_FILE) -> list[Path]:
        """Gzipped envelopes of ``per_file`` records, written record by record (gzip mtime 0,
        so the same catalogue gives the same bytes)."""
        if per_file < 1:
            raise ValueError(f"per_file must be >= 1, got {per_file}")
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for offset in range(0, self.characters, per_file):
            path = folder / f"characters-{offset // per_file:05d}.json.gz"
            count = min(per_file, self.characters - offset)
            with (
                open(path, "wb") as raw,
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=5) as gz,
            ):
                head = {
                    "code": 200,
                    "status": "Ok",
                    "attributionText": self.template.attribution,
                    "attributionHTML": self.template.attribution_html,
                    "source": f"synthetic catalogue: scale {self.scale}, seed {self.seed}",
                }
                data = {"offset": offset, "limit": per_file, "total": self.characters}
                gz.write(json.dumps(head)[:-1].encode())
                gz.write(b', "data": ' + json.dumps({**data, "count": count})[:-1].encode())
                gz.write(b', "results": [')
                for n, i in enumerate(range(offset, offset + count)):
                    if n:
                        gz.write(b",\n")
                    gz.write(json.dumps(self.record(i), ensure_ascii=False).encode())
                gz.write(b"]}}\n")
            written.append(path)
        return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write (created; existing files kept)")
    parser.add_argument("--scale", type=int, default=1, help="N x the bundled set (default 1)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default 13)")
    parser.add_argument(
        "--per-file", type=int, default=PER_FILE, help=f"characters per file (default {PER_FILE})"
    )
    options = parser.parse_args(argv)
    if options.scale < 1 or options.per_file < 1:
        parser.error("--scale and --per-file must be >= 1")
    if options.out.exists() and any(options.out.glob("*.json*")):
        parser.error(f"{options.out} already holds *.json files; give an empty folder")
    started = time.perf_counter()
    catalogue = Catalogue(options.scale, options.seed)
    files = catalogue.write(options.out, options.per_file)
    size = sum(path.stat().st_size for path in files)
    print(
        f"{options.out}: {catalogue.characters:,} characters, {catalogue.comics:,} comics, "
        f"{catalogue.links:,} links in {len(files)} files ({size / 1e6:.1f} MB gzipped), "
        f"scale {options.scale}, seed {options.seed}, {time.perf_counter() - started:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
