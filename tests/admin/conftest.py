"""The characters the admin tests edit."""

import copy
import gzip
import json

import pytest

from characters.ingest.recordings import BUNDLED_DATASET
from characters.models import Character
from tests.support.importer_runs import page, run
from tests.support.page_data import make_character

HULK = 1009351


@pytest.fixture
def hulk():
    """The Hulk with one comic, as the importer stores him."""
    return make_character(HULK, "Hulk", comics=[(40632, "Hulk (2008) #53")])


@pytest.fixture
def marvel_record():
    """A record of the bundled data set with three comics or more, as Marvel sends it (a copy:
    tests change it)."""
    raw = json.loads(gzip.decompress(BUNDLED_DATASET.read_bytes()))["data"]["results"]
    return copy.deepcopy(next(r for r in raw if len(r["comics"]["items"]) >= 3))


@pytest.fixture
def imported(marvel_record):
    """That record through the importer."""
    run(page([marvel_record]))
    return Character.objects.get(id=marvel_record["id"])
