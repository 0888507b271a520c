"""Reading the pages the tests get."""


def missing(html: str, *texts: str) -> list[str]:
    """Which of `texts` the page does not contain: `assert missing(html, ...) == []` names
    every one that is absent."""
    return [text for text in texts if text not in html]
