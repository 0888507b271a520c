"""The admin, logged in as a superuser (pytest-django's admin_client), on both backends."""

import re

import pytest
from django.http import HttpRequest
from django.test import Client

from characters.models import LOCAL_ID_START, Character, Comic
from tests.support.admin_forms import change_data
from tests.support.changelist import CHANGELIST, COMICS, result_names
from tests.support.page_data import make_character

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(hulk):
    Character.objects.filter(pk=hulk.pk).update(comics_available=9)
    hulk.refresh_from_db()
    thor = make_character(1009664, "Thor", comics=[(40633, "Thor (2007) #1")], image=False)
    ghost = make_character(1011334, "Ghost Rider", modified=None)
    return hulk, thor, ghost


def test_character_changelist_columns(admin_client, catalogue):
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert result_names(response) == ["Ghost Rider", "Hulk", "Thor"]
    assert "https://i.annihil.us/u/prod/marvel/i/mg/5/a0/538615ca33ab0/standard_medium.jpg" in html
    for header in ("Name", "Id", "Comics linked", "Comics available", "Modified at Marvel"):
        assert f">{header}</a>" in html or f">{header}</span>" in html, header
    hulk_row = re.search(r"<tr>(?:(?!</tr>).)*>Hulk<.*?</tr>", html, re.S).group(0)
    assert 'class="field-comics_linked">1<' in hulk_row
    assert 'class="field-comics_available">9<' in hulk_row


@pytest.mark.parametrize(
    ("query", "names"),
    [("hul", ["Hulk"]), ("RIDER", ["Ghost Rider"]), ("1009664", ["Thor"]), ("nobody", [])],
)
def test_character_search_by_name_and_id(admin_client, catalogue, query, names):
    assert result_names(admin_client.get(CHANGELIST, {"q": query})) == names


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"has_image": "yes"}, ["Ghost Rider", "Hulk"]),
        ({"has_image": "no"}, ["Thor"]),
        ({"modified__isnull": "True"}, ["Ghost Rider"]),
        ({"modified__isnull": "False"}, ["Hulk", "Thor"]),
        (
            {
                "modified__gte": "2014-01-01 00:00:00+00:00",
                "modified__lt": "2015-01-01 00:00:00+00:00",
            },
            ["Hulk", "Thor"],
        ),
        ({"modified__gte": "2015-01-01 00:00:00+00:00"}, []),
    ],
)
def test_character_filters(admin_client, catalogue, params, names):
    response = admin_client.get(CHANGELIST, params)
    assert response.status_code == 200
    assert result_names(response) == names


def test_sort_by_comics_available(admin_client, catalogue):
    response = admin_client.get(CHANGELIST, {"o": "-5"})  # the "comics available" column
    assert result_names(response)[0] == "Hulk"


def test_comics_linked_is_counted_per_page_row_and_not_sortable(admin_client, catalogue):
    # Counted for the page's rows only: sorting the whole table by it would join every
    # character to its links (a collection scan on MongoDB).
    html = admin_client.get(CHANGELIST).content.decode()
    assert re.findall(r'class="field-comics_linked">(\d+)<', html) == ["0", "1", "1"]
    assert 'class="sortable column-comics_linked' not in html


def test_change_form_round_trip_shows_on_the_public_pages_at_once(admin_client, catalogue):
    hulk, _, _ = catalogue
    url = f"{CHANGELIST}{hulk.id}/change/"
    form = admin_client.get(url)
    assert form.status_code == 200
    html = form.content.decode()
    assert 'name="name"' in html
    assert 'name="id"' not in html  # Marvel ids are not editable
    assert "Import metadata" in html
    assert 'name="resource_uri"' not in html
    assert 'name="modified"' not in html
    assert "View on site" in html

    response = admin_client.post(
        url, change_data(hulk, name="Hulk (Bruce Banner)", comics=["40633"])
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    hulk.refresh_from_db()
    assert hulk.name == "Hulk (Bruce Banner)"
    assert list(hulk.comics.values_list("id", flat=True)) == [40633]

    public = Client()
    assert (
        public.get("/characters/1009351/hulk/")["Location"]
        == "/characters/1009351/hulk-bruce-banner/"
    )
    page = public.get("/characters/1009351/hulk-bruce-banner/").content.decode()
    assert "Hulk (Bruce Banner)" in page
    assert "Thor (2007) #1" in page
    assert "Hulk (2008) #53" not in page
    assert "Hulk (Bruce Banner)" in public.get("/characters/", {"q": "banner"}).content.decode()


def test_view_on_site_goes_to_the_public_page(admin_client, catalogue):
    html = admin_client.get(f"{CHANGELIST}1009351/change/").content.decode()
    link = re.search(r'href="(/admin/r/[^"]+)"', html).group(1)
    assert admin_client.get(link)["Location"].endswith("/characters/1009351/hulk/")


def test_add_without_typing_an_id(admin_client, catalogue):
    data = {"name": "Squirrel Girl", "description": "", "comics": ["40632"], "urls": "[]"}
    data |= {"thumbnail_path": "", "thumbnail_extension": "", "_save": "Save"}
    response = admin_client.post(f"{CHANGELIST}add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    created = Character.objects.get(name="Squirrel Girl")
    assert created.id >= LOCAL_ID_START
    assert list(created.comics.values_list("id", flat=True)) == [40632]
    assert Client().get(created.get_absolute_url()).status_code == 200


def test_delete(admin_client, catalogue):
    url = f"{CHANGELIST}1009664/delete/"
    assert admin_client.get(url).status_code == 200
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Character.objects.filter(pk=1009664).exists()
    assert Comic.objects.filter(pk=40633).exists()  # comics stay
    assert Client().get("/characters/1009664/thor/").status_code == 404


def test_comics_autocomplete(admin_client, catalogue):
    response = admin_client.get(
        "/admin/autocomplete/",
        {
            "app_label": "characters",
            "model_name": "character",
            "field_name": "comics",
            "term": "thor",
        },
    )
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["Thor (2007) #1"]


@pytest.mark.parametrize(
    ("query", "titles"), [("hulk", ["Hulk (2008) #53"]), ("40633", ["Thor (2007) #1"])]
)
def test_comic_changelist_and_search(admin_client, catalogue, query, titles):
    assert admin_client.get(COMICS).status_code == 200
    html = admin_client.get(COMICS, {"q": query}).content.decode()
    found = re.findall(r'class="field-title"><a [^>]*>([^<]*)<', html)
    assert found == titles


def test_comic_change_form_lists_its_characters(admin_client, catalogue):
    make_character(5, "She-Hulk", comics=[Comic.objects.get(pk=40632)])
    html = admin_client.get(f"{COMICS}40632/change/").content.decode()
    assert f'<a href="{CHANGELIST}5/change/">She-Hulk</a>' in html
    assert f'<a href="{CHANGELIST}1009351/change/">Hulk</a>' in html
    assert html.index("Hulk</a>") < html.index("She-Hulk</a>")


def test_comic_add_gets_a_local_id(admin_client):
    response = admin_client.post(f"{COMICS}add/", {"title": "Brand New #1", "resource_uri": ""})
    assert response.status_code == 302
    assert Comic.objects.get(title="Brand New #1").id >= LOCAL_ID_START


def test_only_staff_reach_the_admin(client, django_user_model, catalogue):
    assert client.get(CHANGELIST)["Location"].startswith("/admin/login/")
    django_user_model.objects.create_user("reader", password="not-staff-pw-123")
    # django-axes judges every login by its request; the test client's login() has none.
    assert client.login(request=HttpRequest(), username="reader", password="not-staff-pw-123")
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert client.post(f"{CHANGELIST}1009351/delete/", {"post": "yes"}).status_code == 302
    assert Character.objects.filter(pk=1009351).exists()


def test_admin_posts_need_a_csrf_token(admin_user, catalogue):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    response = strict.post(f"{CHANGELIST}1009664/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Character.objects.filter(pk=1009664).exists()


def test_login_page_is_djangos(client):
    html = client.get("/admin/login/").content.decode()
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'name="username"' in html
