"""What fans type finds what they mean: the bundled catalogue (every recorded character),
searched through the public list and the admin, on both backends."""

import pytest

from characters.ingest.recordings import BUNDLED_DATASET
from characters.ingest.seed import SeedOptions, seed
from characters.models import Character
from characters.search import sort_key

pytestmark = pytest.mark.django_db

# (what is typed, the character it must find, within the first N results)
RELEVANCE = [
    ("peter parker", "Spider-Man (Peter Parker)", 3),
    ("spider-man peter", "Spider-Man (Peter Parker)", 3),
    ("spidermanpeter", "Spider-Man (Peter Parker)", 3),
    ("miles", "Spider-Man (Miles Morales)", 3),
    ("wolv", "Wolverine", 3),
    ("WOLVERINE", "Wolverine", 3),
    ("x men", "X-Men", 3),
    ("xmen", "X-Men", 3),
    ("X-MEN", "X-Men", 3),
    ("thor", "Thor", 3),
    ("Thór", "Thor", 3),
    ("storm", "Storm", 3),
    ("sue storm", "Sue Storm", 3),
    ("hulk", "Hulk", 3),
    ("she hulk", "She-Hulk (Jennifer Walters)", 5),
    ("shehulk", "She-Hulk (Jennifer Walters)", 5),
    ("iron man", "Iron Man", 3),
    ("ironman", "Iron Man", 3),
    ("captain america", "Captain America", 3),
    ("cap america", "Captain America", 3),
    ("deadpool", "Deadpool", 3),
    ("widow", "Black Widow", 3),
    ("panther", "Black Panther", 3),
    ("hawkeye", "Hawkeye", 3),
    ("doctor strange", "Doctor Strange", 3),
    ("fury", "Nick Fury", 3),
    ("antman", "Ant-Man (Scott Lang)", 3),
    ("ms marvel", "Ms. Marvel (Kamala Khan)", 3),
    ("kamala", "Ms. Marvel (Kamala Khan)", 3),
    ("mr fantastic", "Mr. Fantastic", 3),
    ("mr. fantastic", "Mr. Fantastic", 3),
    ("star lord", "Star-Lord (Peter Quill)", 3),
    ("starlord", "Star-Lord (Peter Quill)", 3),
    ("rocket", "Rocket Raccoon", 3),
    ("gwen", "Gwen Stacy", 3),
    ("ghost rider johnny", "Ghost Rider (Johnny Blaze)", 3),
    ("émma frost", "Emma Frost", 3),
]
SPIDER_MAN = "Spider-Man (Peter Parker)"


@pytest.fixture
def catalogue(db):
    stats = seed(SeedOptions(path=BUNDLED_DATASET))
    assert stats.characters_created == Character.objects.count() == 1561
    return stats


def found(client, q, page=1) -> list[str]:
    response = client.get("/characters/", {"q": q, "page": page})
    assert response.status_code == 200
    return [card.character.name for card in response.context["cards"]]


def test_fans_find_what_they_type(client, catalogue):
    misses = []
    for q, name, within in RELEVANCE:
        first = found(client, q)[:within]
        if name not in first:
            misses.append((q, name, within, first))
    assert not misses
    assert len(RELEVANCE) >= 25

    # Spider-Man three ways, and the ranks.
    for q in ("spiderman", "spider man", "Spider-Man"):
        names = found(client, q)
        assert SPIDER_MAN in names, q  # the first page
        # Names starting with it, by name, then the one that has it as a later word.
        assert names[0] == "Spider-Man (1602)"
        assert names[-1] == "Ultimate Spider-Man (USM)"
        assert names == sorted(names[:-1], key=sort_key) + names[-1:]
    thor = found(client, "thor")
    assert thor[0] == "Thor"  # the exact name first
    assert thor[-1] == "Frog Thor"  # a later word last
    assert "Thor Girl" in thor[1:-1]

    # The whole catalogue in reading order.
    names = [card.character.name for card in client.get("/characters/").context["cards"]]
    assert names[0] == "3-D Man"
    pug = Character.objects.get(name="pug")
    queen = Character.objects.get(name="Queen Noir")
    assert pug.sort_name < queen.sort_name
    # 784 epochs and 9 "-0001-11-30": Marvel's unknown dates.
    assert Character.objects.filter(modified__isnull=True).count() == 793
    assert Character.objects.filter(name="Spider-Man (Peter Parker)").exists()


def test_the_admin_search_uses_the_same_tokens(admin_client, catalogue):
    html = admin_client.get("/admin/characters/character/", {"q": "spiderman"}).content.decode()
    assert "Spider-Man (Peter Parker)" in html
    assert "14 results" in html
    html = admin_client.get("/admin/characters/character/", {"q": "x men"}).content.decode()
    assert ">X-Men<" in html
    assert "Young X-Men" in html
