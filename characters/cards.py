"""What a character card shows, for a page of characters: computed once, with the comics of all
of them read in one go (Comic.objects.titles_by_character)."""

from dataclasses import dataclass

from characters.models import Character, Comic, ComicTitle

CARD_COMICS = 3  # comic titles shown on a card
CARD_IMAGE = "landscape_incredible"  # Marvel's 464x261 variant, as the original site used


@dataclass(frozen=True, slots=True)
class Card:
    character: Character
    url: str
    image_url: str
    comics: list[ComicTitle]
    more_comics: int  # listed or counted by Marvel beyond the titles shown


def cards(characters) -> list[Card]:
    characters = list(characters)
    if not characters:
        return []
    comics = Comic.objects.titles_by_character(c.id for c in characters)
    found = []
    for character in characters:
        linked = comics.get(character.id, [])
        shown = linked[:CARD_COMICS]
        found.append(
            Card(
                character=character,
                url=character.get_absolute_url(),
                image_url=character.upload_url("card") or character.image_url(CARD_IMAGE),
                comics=shown,
                more_comics=max(len(linked), character.comics_available) - len(shown),
            )
        )
    return found
