"""Print the catalogue of the configured database as one JSON line (tests/ingest/test_seed_runs.py):
each character's linked comic ids, every comic id, the tombstones and the import lock."""

import json

import django


def main() -> None:
    django.setup()
    from characters.models import Character, Comic, DeletedCharacter, ImportLock

    links: dict[int, list[int]] = {pk: [] for pk in Character.objects.values_list("id", flat=True)}
    for character_id, comic_id in Character.comics.through.objects.values_list(
        "character_id", "comic_id"
    ):
        links.setdefault(character_id, []).append(comic_id)
    print(
        json.dumps(
            {
                "characters": {str(pk): sorted(ids) for pk, ids in links.items()},
                "character_rows": Character.objects.count(),
                "comics": sorted(Comic.objects.values_list("id", flat=True)),
                "tombstones": list(DeletedCharacter.objects.values_list("id", flat=True)),
                "locks": ImportLock.objects.count(),
            }
        )
    )


if __name__ == "__main__":
    main()
