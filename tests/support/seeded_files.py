"""The bundled data set's records as seed_marvel reads them from a file, for tests that import
through the real command: a slice of records, a file of them, a run's --json counters."""

import gzip
import io
import json

from django.core.management import call_command

from characters.ingest.recordings import BUNDLED_DATASET

IRON_MAN, THREE_D_MAN = 1009368, 1011334


def raw_records():
    every = json.loads(gzip.decompress(BUNDLED_DATASET.read_bytes()))["data"]["results"]
    return [*every[:10], every[606]]  # 3-D Man first, Iron Man last


def write(tmp_path, records, name="characters.json"):
    path = tmp_path / name
    path.write_text(json.dumps(records))
    return path


def seed(path, *args):
    out = io.StringIO()
    call_command("seed_marvel", "--path", str(path), "--json", "--db-wait", "1", *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    return json.loads(lines[-1]), lines[-2]
