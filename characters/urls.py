"""Public pages, included at "" by marvelsite/urls.py under the "characters" namespace."""

from django.urls import path, register_converter

from characters import views


class MarvelIdConverter:
    """A positive id that fits a 64-bit integer column: longer digit runs are a 404, not a 500."""

    regex = "[0-9]{1,18}"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return str(value)


register_converter(MarvelIdConverter, "marvel_id")


class Sha256Converter:
    regex = "[0-9a-f]{64}"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


class ImageVariantConverter(Sha256Converter):
    regex = "original|card|detail"


register_converter(Sha256Converter, "sha256")
register_converter(ImageVariantConverter, "image_variant")

app_name = "characters"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("featured/card/", views.FeaturedCardView.as_view(), name="featured_card"),
    path("characters/", views.CharacterListView.as_view(), name="list"),
    path("characters/<marvel_id:pk>/", views.CharacterDetailView.as_view(), name="detail"),
    path(
        "characters/<marvel_id:pk>/<str:slug>/", views.CharacterDetailView.as_view(), name="detail"
    ),
    path("comics/<marvel_id:pk>/", views.ComicDetailView.as_view(), name="comic"),
    path(
        "images/<sha256:sha256>/<image_variant:variant>/",
        views.ImageView.as_view(),
        name="image",
    ),
]
