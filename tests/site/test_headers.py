"""Response headers: a strict Content-Security-Policy and a Permissions-Policy on the pages and
the admin, HSTS flags only when asked for, and a bad Host header logged as one WARNING line.

The browser side of the policy (no violation while browsing and editing in the admin) is in
tests/site/test_browser.py.
"""

import json
import logging
import re

import pytest
from django.test import Client

from tests.support.manage import run_manage
from tests.support.page_data import make_character

pytestmark = pytest.mark.django_db

PUBLIC = ["/", "/characters/", "/characters/?q=spider", "/characters/1009610/spider-man/"]
ADMIN = ["/admin/", "/admin/characters/character/", "/admin/characters/character/1009610/change/"]
PRODUCTION = {
    "DJANGO_SECRET_KEY": "x7#kQ!p2-production-like-secret-key-with-enough-entropy-9f8a7b6c5d",
    "DJANGO_ALLOWED_HOSTS": "marvel.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://marvel.example.com",
}


@pytest.fixture
def spidey():
    return make_character(1009610, "Spider-Man", comics=[(5001, "Amazing Spider-Man (1963) #1")])


def directives(header: str) -> dict[str, list[str]]:
    parts = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in parts}


def pages(client, admin_client):
    for url in PUBLIC:
        yield url, client.get(url)
    yield "/admin/login/", client.get("/admin/login/")
    for url in ADMIN:
        yield url, admin_client.get(url)


def test_pages_and_admin_send_a_strict_content_security_policy(client, admin_client, spidey):
    for url, response in pages(client, admin_client):
        assert response.status_code == 200, url
        policy = directives(response["Content-Security-Policy"])
        # Scripts, styles and requests fall back to default-src: this site only.
        assert policy["default-src"] == ["'self'"], url
        assert not {"script-src", "style-src", "connect-src"} & set(policy), url
        assert policy["img-src"] == ["'self'", "https://i.annihil.us"], url
        assert policy["object-src"] == policy["frame-ancestors"] == ["'none'"], url
        assert "unsafe" not in response["Content-Security-Policy"], url


def test_pages_and_admin_have_no_inline_script(client, admin_client, spidey):
    """What the policy refuses must not be in the markup: every script is a file."""
    for url, response in pages(client, admin_client):
        html = response.content.decode()
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert scripts, url  # the pages do run scripts, all from files
        assert all(" src=" in tag for tag in scripts), (url, scripts)
        assert not re.search(r"\son[a-z]+\s*=", html), url  # no onclick=, onerror=, ...
        assert "javascript:" not in html, url


def test_image_hosts_are_a_setting(tmp_path):
    code = "from django.conf import settings; print(settings.CONTENT_SECURITY_POLICY)"
    hosts = "https://i.annihil.us,https://images.example.com"
    result = run_manage(
        "shell", "-c", code, data_dir=tmp_path, DJANGO_DEBUG="true", MARVELSITE_IMAGE_HOSTS=hosts
    )
    assert result.returncode == 0, result.stderr
    assert "'img-src': [\"'self'\", 'https://i.annihil.us', 'https://images.example.com']" in (
        result.stdout
    )


def test_permissions_policy_turns_off_unused_browser_features(client, admin_client, spidey):
    for url, response in pages(client, admin_client):
        features = dict(part.split("=") for part in response["Permissions-Policy"].split(", "))
        for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
            assert features[feature] == "()", (url, feature)


def test_hsts_sends_include_subdomains_and_preload_only_when_enabled(client, settings):
    assert client.get("/characters/", secure=True)["Strict-Transport-Security"] == "max-age=60"
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = settings.SECURE_HSTS_PRELOAD = True
    enabled = Client()  # a new handler: SecurityMiddleware reads its settings once
    assert enabled.get("/characters/", secure=True)["Strict-Transport-Security"] == (
        "max-age=60; includeSubDomains; preload"
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "False False ['security.W005', 'security.W021']"),
        (
            {"DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true", "DJANGO_SECURE_HSTS_PRELOAD": "1"},
            "True True []",
        ),
    ],
)
def test_hsts_flags_come_from_the_environment(tmp_path, env, expected):
    """Off by default, and then `check --deploy` stops asking for them
    (tests/deploy/test_settings.py runs it); once on, nothing is silenced."""
    code = (
        "from django.conf import settings; print(settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
        "settings.SECURE_HSTS_PRELOAD, settings.SILENCED_SYSTEM_CHECKS)"
    )
    result = run_manage("shell", "-c", code, data_dir=tmp_path, **PRODUCTION, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected


def test_a_bad_host_is_one_warning_without_traceback(client, caplog):
    caplog.set_level(logging.INFO)
    response = client.get("/characters/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.levelname) for r in records] == [
        ("django.security.DisallowedHost", "WARNING")
    ]
    assert records[0].exc_info is None
    assert "evil.example" in records[0].getMessage()


BAD_HOST = (
    "from django.test import Client; "
    "print('status', Client().get('/characters/', HTTP_HOST='evil.example').status_code)"
)


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_a_bad_host_in_the_real_log_output(tmp_path, log_format):
    result = run_manage(
        "shell", "-c", BAD_HOST, data_dir=tmp_path, **PRODUCTION, DJANGO_LOG_FORMAT=log_format
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if "evil.example" in line]
    assert len(lines) == 1, result.stdout
    if log_format == "json":
        line = json.loads(lines[0])
        assert line["level"] == "WARNING"
        assert line["logger"] == "django.security.DisallowedHost"
        assert "evil.example" in line["message"]
        assert line["status_code"] == 400
        assert {"time", "message"} <= set(line)
        assert "request" not in line
    else:
        assert " WARNING django.security.DisallowedHost: Invalid HTTP_HOST header" in lines[0]
    assert "status 400" in result.stdout


def test_an_unknown_log_format_is_one_clear_line(tmp_path):
    result = run_manage("check", data_dir=tmp_path, **PRODUCTION, DJANGO_LOG_FORMAT="xml")
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "Configuration error: DJANGO_LOG_FORMAT must be one of plain, json (got 'xml')."
    )
