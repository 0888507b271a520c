"""What stored text may put in a page, whatever was stored: only http(s) URLs in src and href,
and no control characters at all.

The import drops bad values too, but the admin, an old import or a restored backup may have
stored them; rendering does not trust the database.
"""

import re
from urllib.parse import urlsplit

WEB_SCHEMES = ("http", "https")
# C0 controls but tab, newline and carriage return; DEL; C1 controls (U+0080-U+009F).
CONTROL_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# The same in a UTF-8 body: a C1 control is 0xC2 then 0x80-0x9F, and 0xC2 is only ever a lead
# byte, so the bytes can be cleaned without decoding them.
CONTROL_BYTES = re.compile(b"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")
# The cheap test first, on every page: bytes.translate and a literal-led pattern are an order of
# magnitude faster than one character class over the whole body.
C0_AND_DEL = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
C1_BYTES = re.compile(b"\xc2[\x80-\x9f]")
HTML = "text/html"


def is_web_url(url) -> bool:
    """An absolute http(s) URL with a host, with no whitespace or control characters (browsers
    drop some of those inside a scheme, so "java\\tscript:" would run)."""
    if not isinstance(url, str) or not url or any(c.isspace() for c in url):
        return False
    if CONTROL_TEXT.search(url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a malformed IPv6 host
        return False
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.hostname)


def without_controls(text: str) -> str:
    return CONTROL_TEXT.sub("", text)


def has_control_bytes(body: bytes) -> bool:
    return len(body.translate(None, C0_AND_DEL)) != len(body) or bool(C1_BYTES.search(body))


class ControlCharactersMiddleware:
    """Removes control characters from every HTML page: stored names, descriptions and titles
    reach many templates (and the admin's), and one place cleans them all."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            not response.streaming
            and response.get("Content-Type", "").startswith(HTML)
            and has_control_bytes(response.content)
        ):
            response.content = CONTROL_BYTES.sub(b"", response.content)
            if response.has_header("Content-Length"):  # set inside (CommonMiddleware)
                response["Content-Length"] = str(len(response.content))
        return response
