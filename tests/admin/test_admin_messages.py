"""marvelsite/admin_messages.py: messages work in the admin, and public pages set none up."""

import pytest
from django.urls import set_script_prefix

from tests.support.page_data import make_character

pytestmark = pytest.mark.django_db


def test_the_admin_still_shows_its_messages(admin_client):
    make_character(7, "Thor")
    response = admin_client.post("/admin/characters/character/7/delete/", {"post": "yes"})
    assert response.status_code == 302
    changelist = admin_client.get(response["Location"])
    assert "was deleted successfully" in changelist.content.decode()


def test_public_pages_set_up_no_message_storage(client):
    make_character(7, "Thor")
    response = client.get("/characters/7/thor/")
    assert response.status_code == 200
    assert not hasattr(response.wsgi_request, "_messages")
    assert list(response.context["messages"]) == []


@pytest.fixture
def script_prefix():
    """Requests as served under /marvel (the test client, unlike WSGIHandler, does not set the
    script prefix from SCRIPT_NAME itself)."""
    set_script_prefix("/marvel/")
    yield {"SCRIPT_NAME": "/marvel"}
    set_script_prefix("/")


def test_the_admin_shows_its_messages_under_a_script_prefix(admin_client, script_prefix):
    make_character(7, "Thor")
    url = "/admin/characters/character/7/delete/"
    response = admin_client.post(url, {"post": "yes"}, **script_prefix)
    assert response.status_code == 302
    assert response["Location"] == "/marvel/admin/characters/character/"
    changelist = admin_client.get("/admin/characters/character/", **script_prefix)
    assert "was deleted successfully" in changelist.content.decode()
