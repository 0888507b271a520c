"""bench.synthetic_catalogue: deterministic, the bundled set's distributions N times over,
and read by the real import path (seed_marvel --path) on the active backend."""

import gzip
import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Count

from bench import synthetic_catalogue
from characters.models import Character, CharacterComic, Comic
from characters.search import Query

ROOT = Path(__file__).resolve().parents[2]

BUNDLED = ROOT / "characters" / "data" / "characters.json.gz"


def read(folder: Path) -> list[dict]:
    """Every record of a written catalogue, in file order, checking each envelope."""
    records, totals = [], set()
    for path in sorted(folder.iterdir()):
        body = json.loads(gzip.decompress(path.read_bytes()))
        assert body["code"] == 200
        assert body["data"]["offset"] == len(records)
        assert body["data"]["count"] == len(body["data"]["results"])
        records += body["data"]["results"]
        totals.add(body["data"]["total"])
    assert totals == {len(records)}
    return records


def comic_id(item: dict) -> int:
    return int(item["resourceURI"].rsplit("/", 1)[1])


def shape(records: list[dict]) -> dict:
    """The figures a catalogue must share with the bundled set (per copy of it)."""
    casts = Counter(comic_id(item) for r in records for item in r["comics"]["items"])
    return {
        "characters": len(records),
        "listed": Counter(len(r["comics"]["items"]) for r in records),
        "casts": Counter(casts.values()),
        "available": Counter(r["comics"]["available"] for r in records),
        "no description": sum(not r["description"] for r in records),
        "no image": sum("image_not_available" in r["thumbnail"]["path"] for r in records),
        # What a search for "man" finds (a word starting with it), as the site searches.
        "names with man": sum(Query.parse("man").rank(r["name"]) < 3 for r in records),
    }


def times(figures: dict, n: int) -> dict:
    return {
        key: Counter({k: v * n for k, v in value.items()})
        if isinstance(value, Counter)
        else value * n
        for key, value in figures.items()
    }


@pytest.fixture(scope="module")
def bundled() -> dict:
    records = json.loads(gzip.decompress(BUNDLED.read_bytes()))["data"]["results"]
    return shape(records)


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_scale_and_seed_give_the_same_bytes_another_seed_other_links(tmp_path):
    synthetic_catalogue.Catalogue(2, seed=5).write(tmp_path / "a", per_file=700)
    synthetic_catalogue.Catalogue(2, seed=5).write(tmp_path / "b", per_file=700)
    synthetic_catalogue.Catalogue(2, seed=6).write(tmp_path / "c", per_file=700)
    assert list(digest(tmp_path / "a")) == [f"characters-{n:05d}.json.gz" for n in range(5)]
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    same, other = read(tmp_path / "a"), read(tmp_path / "c")
    assert [r["name"] for r in same] == [r["name"] for r in other]
    assert [r["comics"]["items"] for r in same] != [r["comics"]["items"] for r in other]


@pytest.mark.parametrize("scale", [1, 3])
def test_the_bundled_distributions_n_times_over(tmp_path, bundled, scale):
    catalogue = synthetic_catalogue.Catalogue(scale)
    catalogue.write(tmp_path, per_file=1000)
    records = read(tmp_path)
    assert shape(records) == times(bundled, scale)
    assert catalogue.characters == len(records) == len({r["id"] for r in records})
    links = [(r["id"], comic_id(item)) for r in records for item in r["comics"]["items"]]
    assert len(links) == len(set(links)) == catalogue.links  # no comic twice in one character
    titles = {}
    for r in records:
        for item in r["comics"]["items"]:
            assert titles.setdefault(comic_id(item), item["name"]) == item["name"]
    assert len(titles) == catalogue.comics
    if scale > 1:
        # Wired over the whole catalogue: the first copy's characters list later copies' comics.
        first_copy = [comic_id(i) for r in records[:1561] for i in r["comics"]["items"]]
        assert max(first_copy) - synthetic_catalogue.COMIC_ID_START >= 8723
        assert {r["name"] for r in records[1561:]}.isdisjoint(r["name"] for r in records[:1561])
        # The list's first page by name shows the 1x characters, with as many comics each.
        first_page = sorted(records, key=lambda r: r["name"])[:24]
        assert all(r["id"] - synthetic_catalogue.CHARACTER_ID_START < 1561 for r in first_page)


def test_records_are_made_one_at_a_time(tmp_path):
    catalogue = synthetic_catalogue.Catalogue(1)
    records = catalogue.records()
    assert next(records)["id"] == synthetic_catalogue.CHARACTER_ID_START  # a generator
    with pytest.raises(ValueError, match="scale"):
        synthetic_catalogue.Catalogue(0)


def test_the_command_line_refuses_a_used_folder(tmp_path, capsys):
    assert synthetic_catalogue.main([str(tmp_path), "--per-file", "600"]) == 0
    assert "1,561 characters, 8,723 comics, 17,023 links in 3 files" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        synthetic_catalogue.main([str(tmp_path)])
    assert "already holds" in capsys.readouterr().err


@pytest.mark.django_db
def test_seed_marvel_reads_it_and_search_finds_its_names(tmp_path, bundled):
    catalogue = synthetic_catalogue.Catalogue(1, seed=7)
    catalogue.write(tmp_path, per_file=400)
    out = io.StringIO()
    call_command("seed_marvel", "--path", str(tmp_path), "--json", "--db-wait", "1", stdout=out)
    first = json.loads(out.getvalue().strip().splitlines()[-1])
    assert (first["characters_created"], first["comics_created"], first["links_created"]) == (
        catalogue.characters,
        catalogue.comics,
        catalogue.links,
    )
    assert Character.objects.count() == catalogue.characters
    assert Comic.objects.count() == catalogue.comics
    assert CharacterComic.objects.count() == catalogue.links
    assert Character.objects.search("man").count() == bundled["names with man"]
    assert Character.objects.without_image().count() == bundled["no image"]
    crowded = (
        CharacterComic.objects.values("comic_id").annotate(n=Count("id")).order_by("-n").first()
    )
    assert crowded["n"] == max(bundled["casts"])
    out = io.StringIO()
    call_command("seed_marvel", "--path", str(tmp_path), "--json", "--db-wait", "1", stdout=out)
    again = json.loads(out.getvalue().strip().splitlines()[-1])
    assert again["characters_unchanged"] == catalogue.characters
    assert again["comics_created"] + again["comics_updated"] + again["links_created"] == 0
