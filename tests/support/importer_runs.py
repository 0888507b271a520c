"""Importer runs on the bundled dataset, and the writes and reads they logged."""

import gzip
import json

import pytest

from characters.ingest.importer import Importer
from characters.ingest.recordings import BUNDLED_DATASET
from characters.ingest.records import ParsedPage, parse_results
from characters.models import CharacterComic as Link

WRITE_WORDS = ("INSERT", "UPDATE", "DELETE", "insert_", "update_", "delete_", "bulk_write")
READ_WORDS = ("SELECT", "aggregate(", ".find(")


@pytest.fixture(scope="module")
def raw_characters():
    return json.loads(gzip.decompress(BUNDLED_DATASET.read_bytes()))["data"]["results"]


def page(raw, offset=0):
    records, skipped = parse_results(raw, offset)
    return ParsedPage(offset, records, skipped)


def pages(raw, size):
    return [page(raw[i : i + size], i) for i in range(0, len(raw), size)]


def run(*batches, dry_run=False):
    importer = Importer(dry_run=dry_run)
    for batch in batches:
        importer.import_page(batch)
    return importer.stats


def links_of(character_id):
    return set(Link.objects.filter(character_id=character_id).values_list("comic_id", flat=True))


def writes(queries):
    return [q["sql"][:80] for q in queries if any(w in q["sql"] for w in WRITE_WORDS)]


def reads(queries):
    return [q["sql"][:80] for q in queries if any(w in q["sql"] for w in READ_WORDS)]
