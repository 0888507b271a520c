"""Database errors as one line that says what happened, with credentials masked.

django-mongodb-backend raises DatabaseError and IntegrityError with empty text and chains the
pymongo error that says what happened as `__cause__` (Django's own backends repeat the driver's
text); printing just the outer error gives "DatabaseError: ". `describe()` follows the chain.
Every place that prints or logs a database error uses it: seed_marvel, wait_for_database,
/readyz and the 503 middleware.
"""

import re
from urllib.parse import unquote, urlsplit

from django.conf import settings

MASK = "***"
LONGEST = 1000  # characters; pymongo's topology descriptions run to several kB
# user:password@ in any URL (mongodb://, mongodb+srv://, http://, ...).
URL_PASSWORD = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@\s/]*@", re.I)
# password=..., apikey: ..., "hash": "..." in query strings, reprs and messages.
SECRET_VALUE = re.compile(
    r"""(?P<key>\b(?:password|passwd|pwd|secret|token|apikey|api_key|private_key|hash)['"]?\s*[=:]\s*['"]?)"""
    r"""[^&\s'",)}]+""",
    re.I,
)


def configured_secrets(databases: dict | None = None) -> set[str]:
    """The database passwords this process is configured with (settings.DATABASES), plain
    and URL-quoted."""
    secrets = set()
    for database in (settings.DATABASES if databases is None else databases).values():
        for value in (database.get("PASSWORD"), urlsplit(str(database.get("HOST") or "")).password):
            if value:
                secrets |= {value, unquote(value)}
    return {secret for secret in secrets if len(secret) >= 3}


def mask_credentials(text: str, secrets: set[str] | None = None) -> str:
    """`text` without URL passwords, password=/apikey=/hash=... values, or `secrets`
    (default: the configured database passwords)."""
    text = URL_PASSWORD.sub(rf"\g<scheme>\g<user>:{MASK}@", text)
    text = SECRET_VALUE.sub(rf"\g<key>{MASK}", text)
    secrets = configured_secrets() if secrets is None else secrets
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def describe(error: BaseException, *, longest: int = LONGEST) -> str:
    """`error` and what caused it, e.g. "DatabaseError; caused by AutoReconnect: connection
    closed": each link of the `__cause__` (or unsuppressed `__context__`) chain as "Type: text",
    a link that repeats the previous one left out, credentials masked, at most `longest`
    characters."""
    links: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = " ".join(str(current).split())
        link = f"{type(current).__name__}: {text}" if text else type(current).__name__
        if not links or link != links[-1]:
            links.append(link)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    described = mask_credentials("; caused by ".join(links))
    return described if len(described) <= longest else described[: longest - 1] + "…"
