"""Add characters and comics through the admin from a separate process
(tests/admin/test_local_ids.py).

    python -m tests.support.local_id_writer COUNT LABEL START_FILE
    python -m tests.support.local_id_writer dump

Waits until START_FILE exists (so every writer starts at once), then posts COUNT "add
character" and COUNT "add comic" forms to the admin, as a staff user of its own, and prints
the ids the admin gave them as one JSON object. `dump` prints every stored row instead.
"""

import json
import re
import sys
import time
from pathlib import Path

import django


def added_id(response) -> int:
    """The id in the change-form URL that "Save and continue editing" redirects to."""
    assert response.status_code == 302, response.content.decode()[:2000]
    return int(re.search(r"/(\d+)/change/$", response["Location"]).group(1))


def main(count: int, label: str, start_file: Path) -> None:
    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser(f"writer-{label}", password="unused")
    client = Client()
    client.force_login(user)
    deadline = time.monotonic() + 60
    while not start_file.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the start signal never came")
        time.sleep(0.005)
    characters, comics = [], []
    for number in range(count):
        form = {"name": f"{label} {number}", "urls": "[]", "_continue": "1"}
        characters.append(added_id(client.post("/admin/characters/character/add/", form)))
        form = {"title": f"{label} comic {number}", "_continue": "1"}
        comics.append(added_id(client.post("/admin/characters/comic/add/", form)))
    print(json.dumps({"characters": characters, "comics": comics}))


def dump() -> None:
    django.setup()
    from characters.models import Character, Comic

    rows = {
        "characters": [[c.id, c.name, c.created_at is not None] for c in Character.objects.all()],
        "comics": [[c.id, c.title, c.created_at is not None] for c in Comic.objects.all()],
    }
    print(json.dumps(rows))


if __name__ == "__main__":
    if sys.argv[1:] == ["dump"]:
        dump()
    else:
        main(int(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
