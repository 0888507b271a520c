"""What a character card shows, for a page of characters: computed once, with the comics of all
of them read in one go (Comic.objects.titles_by_character). For a catalogue version, cards a
grid already rendered (includes/card_grid.html keeps them) come back as their HTML; the home
page's cards, whose reload form is never kept, keep their comics once read; only the others'
comics are read."""

from dataclasses import dataclass

from django.core.cache import caches
from django.core.cache.utils import make_template_fragment_key
from django.utils.safestring import SafeString, mark_safe

from characters.models import Character, Comic, ComicTitle
from characters.page_cache import count_seconds

CARD_COMICS = 3  # comic titles shown on a card
CARD_IMAGE = "landscape_incredible"  # Marvel's 464x261 variant, as the original site used


@dataclass(frozen=True, slots=True)
class Card:
    character: Character
    url: str
    image_url: str
    comics: list[ComicTitle]
    more_comics: int  # listed or counted by Marvel beyond the titles shown
    html: SafeString | None = None  # the card as rendered for this catalogue version


def card_key(character_id: int, version: str) -> str:
    """The key card_grid.html's {% cache %} keeps a card under."""
    return make_template_fragment_key("card", [character_id, version])


def rendered_cards(character_ids, version: str) -> dict[int, SafeString]:
    keys = {character_id: card_key(character_id, version) for character_id in character_ids}
    kept = caches["template_fragments"].get_many(keys.values())
    # Our own template's output, as the {% cache %} tag would insert it.
    return {cid: mark_safe(kept[key]) for cid, key in keys.items() if key in kept}  # noqa: S308


def card_comics(character_ids, version: str | None) -> dict[int, tuple[list[ComicTitle], int]]:
    """(the comics a card shows, how many are linked) by character id; with `version`, kept
    for it once read (for count_seconds(), as the rendered cards are)."""
    keys = {character_id: f"card-comics:{character_id}:{version}" for character_id in character_ids}
    kept = caches["template_fragments"].get_many(keys.values()) if version else {}
    found = {cid: kept[key] for cid, key in keys.items() if key in kept}
    missing = [cid for cid in keys if cid not in found]
    linked = Comic.objects.titles_by_character(missing)  # no query for none
    read = {cid: (linked.get(cid, [])[:CARD_COMICS], len(linked.get(cid, []))) for cid in missing}
    if version and read:
        to_keep = {keys[cid]: comics for cid, comics in read.items()}
        caches["template_fragments"].set_many(to_keep, count_seconds())
    return found | read


def cards(characters, version: str | None = None, *, as_html: bool = True) -> list[Card]:
    """The cards of `characters`. With `version`, what was kept for it is used: a grid's
    (`as_html`) cards rendered for it come back as HTML; other cards (the home page's, whose
    reload form varies by request) keep their comics."""
    characters = list(characters)
    if not characters:
        return []
    # A grid keeps its cards' HTML, whose comics need no keeping; the others keep their comics.
    rendered = rendered_cards((c.id for c in characters), version) if version and as_html else {}
    unrendered = [c.id for c in characters if c.id not in rendered]
    comics = card_comics(unrendered, None if as_html else version)
    found = []
    for character in characters:
        if character.id in rendered:
            found.append(Card(character, "", "", [], 0, html=rendered[character.id]))
            continue
        shown, linked_count = comics[character.id]
        found.append(
            Card(
                character=character,
                url=character.get_absolute_url(),
                image_url=character.upload_url("card") or character.image_url(CARD_IMAGE),
                comics=shown,
                more_comics=max(linked_count, character.comics_available) - len(shown),
            )
        )
    return found
