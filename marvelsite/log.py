"""Logging pieces named by settings.LOGGING: a quiet DisallowedHost and the JSON formatter.

A request with a Host header we do not serve is the client's mistake (or a scanner's), not ours:
Django logs it as an ERROR with a traceback on `django.security.DisallowedHost`; here it becomes
one WARNING line. JSON lines (DJANGO_LOG_FORMAT=json) are for cluster log collectors.
"""

import logging

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter


class DisallowedHostAsWarning(logging.Filter):
    """Demote a DisallowedHost record to one WARNING line without its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        # The logger let the ERROR through; a root level above WARNING still hides it.
        return logging.getLogger().isEnabledFor(logging.WARNING)


def json_formatter() -> JsonFormatter:
    """One JSON object per line: time, level, logger, message, and any extra fields except
    Django's `request` object (its text is only the method and path, already in the message)."""
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        reserved_attrs=[*RESERVED_ATTRS, "request"],
    )
