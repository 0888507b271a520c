"""marvelsite.redaction: one masker for API keys, URL and database passwords, used by the
logging filter, database error messages and the import's messages alike."""

import ast
import logging
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError

from marvelsite.db_errors import describe
from marvelsite.redaction import mask_secrets, remember_secrets

SETTINGS = Path(__file__).resolve().parents[2] / "marvelsite" / "settings.py"


def test_settings_depend_on_nothing_in_characters():
    tree = ast.parse(SETTINGS.read_text())
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [name for name in imported if name and name.split(".")[0] == "characters"]
    factories = [spec["()"] for spec in settings.LOGGING["filters"].values()]
    assert "marvelsite.redaction.MaskSecretsFilter" in factories
    assert all(factory.startswith("marvelsite.") for factory in factories)


def test_one_masker_hides_every_kind_of_secret(monkeypatch):
    spare = {"spare": {"PASSWORD": "db-pass-word"}}
    monkeypatch.setattr(settings, "DATABASES", settings.DATABASES | spare)
    remember_secrets("pub-key-1234567890")
    text = (
        "GET http://h/x?apikey=abc&hash=0f0f key pub-key-1234567890 "
        "mongodb://marvel:s3cret@db:27017 login db-pass-word"
    )
    masked = "GET http://h/x?apikey=***&hash=*** key *** mongodb://marvel:***@db:27017 login ***"
    assert mask_secrets(text) == masked
    error = DatabaseError()
    error.__cause__ = ConnectionError(text)
    assert describe(error) == f"DatabaseError; caused by ConnectionError: {masked}"


def test_the_logging_filter_masks_where_the_record_is_made(caplog):
    remember_secrets("priv-key-0987654321")
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        logging.getLogger("urllib3.connectionpool").debug(
            "GET %s", "http://h/x?ts=1&apikey=abc&hash=9 priv-key-0987654321"
        )
    assert caplog.messages == ["GET http://h/x?ts=1&apikey=***&hash=*** ***"]


def test_a_value_is_masked_to_its_end():
    # Characters either old masker read as part of a value stay masked.
    assert mask_secrets("GET /x?apikey=ab,cd&ts=1") == "GET /x?apikey=***&ts=1"
    assert mask_secrets("login password=pa<ss>word refused") == "login password=*** refused"
    assert mask_secrets("{'password': 'pa}ss', 'user': 'u'}") == "{'password': '***', 'user': 'u'}"
