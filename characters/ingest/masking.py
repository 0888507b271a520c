"""Secrets never reach a log line or a message: ``apikey``/``hash`` values and the API keys.

:class:`MaskSecretsFilter` is installed by settings.LOGGING on the loggers that print URLs
(urllib3's and the API client's); it is applied where a record is made, so every handler
(stdout, pytest's capture) sees the masked text.
"""

import logging
import re

_SECRET_PARAMS = re.compile(r"(?i)\b(apikey|hash)=[^&\s'\"<>)]+")
_SECRETS: set[str] = set()


def remember_secrets(*secrets: str) -> None:
    """Mask these wherever they appear from now on (not very short ones: they would mangle
    the text)."""
    _SECRETS.update(secret for secret in secrets if len(secret) >= 8)


def mask_secrets(text: str) -> str:
    """``text`` with ``apikey=``/``hash=`` values and any remembered key replaced by ``***``."""
    text = _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}=***", str(text))
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return text


class MaskSecretsFilter(logging.Filter):
    """Rewrites a log record's message with :func:`mask_secrets` (urllib3 logs full URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
