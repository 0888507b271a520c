"""The characters changelist's "Uploaded here" image filter (characters/admin.py,
HasImageFilter): Marvel's and local characters with an editor's upload, none without; both
backends (served by the image_upload index on MongoDB: tests/database/test_desk_plans.py)."""

import pytest

from characters.models import Character
from tests.support.changelist import CHANGELIST, result_names
from tests.support.page_data import make_character

pytestmark = pytest.mark.django_db

UPLOADED = "?has_image=uploaded"


@pytest.fixture
def catalogue():
    hulk = make_character(1009351, "Hulk")
    thor = make_character(1009664, "Thor")
    make_character(1011334, "Ghost Rider", image=False)
    local = Character.objects.create(name="Desk Hero")
    Character.objects.create(name="Desk Sidekick")
    Character.objects.filter(pk__in=[hulk.pk, local.pk]).update(image_upload="c" * 64)
    Character.objects.filter(pk=hulk.pk).update(local_edits={"image": ["path", "jpg", None]})
    Character.objects.filter(pk=thor.pk).update(local_edits={"description": ""})


def test_uploaded_here_lists_the_characters_with_an_upload(admin_client, catalogue):
    assert result_names(admin_client.get(CHANGELIST + UPLOADED)) == ["Desk Hero", "Hulk"]
    with_marvels = result_names(admin_client.get(CHANGELIST + "?has_image=yes"))
    assert "Thor" in with_marvels
    assert "Ghost Rider" not in with_marvels


def test_it_combines_with_the_other_filters(admin_client, catalogue):
    edited = admin_client.get(CHANGELIST + UPLOADED + "&edited=any")
    assert result_names(edited) == ["Hulk"]
    added = admin_client.get(CHANGELIST + UPLOADED + "&edited=added")
    assert result_names(added) == ["Desk Hero"]


def test_the_filter_is_offered(admin_client, catalogue):
    html = admin_client.get(CHANGELIST).content.decode()
    assert 'href="?has_image=uploaded"' in html
    assert "Uploaded here" in html
