from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def run():
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    return out.getvalue()


def test_generates_and_prints_a_password_once(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    first = run()
    password = first.split("admin / ")[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(password)
    second = run()
    assert second.strip() == "Admin account: admin (already exists)"
    assert password not in second


def test_uses_the_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "editor")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "correct horse battery")
    assert "password from DJANGO_SUPERUSER_PASSWORD" in run()
    user = get_user_model().objects.get(username="editor")
    assert user.is_superuser
    assert user.is_staff
    assert user.check_password("correct horse battery")
