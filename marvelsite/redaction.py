"""Secrets never reach a log line, a message or the import history: URL passwords,
``password=``/``apikey=``/``hash=``... values, the Marvel API keys and the database passwords.

:class:`MaskSecretsFilter` is installed by settings.LOGGING on the loggers that print URLs
(urllib3's and the API client's); it is applied where a record is made, so every handler
(stdout, pytest's capture) sees the masked text.
"""

import logging
import re
from urllib.parse import unquote, urlsplit

from django.conf import settings

MASK = "***"
# user:password@ in any URL (mongodb://, mongodb+srv://, http://, ...).
URL_PASSWORD = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@\s/]*@", re.I)
# password=..., apikey: ..., "hash": "..." in query strings, reprs and messages.
SECRET_VALUE = re.compile(
    r"""(?P<key>\b(?:password|passwd|pwd|secret|token|apikey|api_key|private_key|hash)['"]?\s*[=:]\s*['"]?)"""
    r"""[^&\s'")]+""",  # to the value's end, as both old maskers read it at the least
    re.I,
)
_remembered: set[str] = set()


def remember_secrets(*secrets: str) -> None:
    """Mask these wherever they appear from now on (not very short ones: they would mangle
    the text)."""
    _remembered.update(secret for secret in secrets if len(secret) >= 8)


def configured_secrets(databases: dict | None = None) -> set[str]:
    """The database passwords this process is configured with (settings.DATABASES), plain
    and URL-quoted."""
    if databases is None:
        databases = settings.DATABASES if settings.configured else {}
    secrets = set()
    for database in databases.values():
        for value in (database.get("PASSWORD"), urlsplit(str(database.get("HOST") or "")).password):
            if value:
                secrets |= {value, unquote(value)}
    return {secret for secret in secrets if len(secret) >= 3}


def mask_secrets(text: str, secrets: set[str] | None = None) -> str:
    """`text` without URL passwords, password=/apikey=/hash=... values, or `secrets`
    (default: the remembered API keys and the configured database passwords)."""
    text = URL_PASSWORD.sub(rf"\g<scheme>\g<user>:{MASK}@", str(text))
    text = SECRET_VALUE.sub(rf"\g<key>{MASK}", text)
    secrets = _remembered | configured_secrets() if secrets is None else secrets
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class MaskSecretsFilter(logging.Filter):
    """Rewrites a log record's message with :func:`mask_secrets` (urllib3 logs full URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
