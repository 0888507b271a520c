"""The README is one screen that points into docs/, and every relative link there resolves."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) and ![alt](target); the target up to a space, a '#' or the closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s#]*)(?:#[^)\s]*)?(?:\s[^)]*)?\)")
README_LINES = 150


def relative_links(text: str) -> list[str]:
    return [
        target
        for target in LINK.findall(text)
        if target and not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # not https:, mailto: ...
    ]


@pytest.mark.parametrize("page", DOCS, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    missing = [
        target
        for target in relative_links(page.read_text(encoding="utf-8"))
        if not (page.parent / target).exists()
    ]
    assert missing == []


def test_the_link_finder_sees_relative_links_only():
    text = "[a](docs/x.md) ![b](img.png) [c](https://example.com) [d](y.md#part) [e](#top)"
    assert relative_links(text) == ["docs/x.md", "img.png", "y.md"]


def test_readme_fits_on_a_screen_or_two_and_links_every_doc():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_LINES
    for page in DOCS[1:]:
        assert f"docs/{page.name}" in readme, page.name
