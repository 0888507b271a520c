"""marvelsite/admin_messages.py: messages work in the admin, and public pages set none up."""

import pytest

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
