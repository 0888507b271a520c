"""URLs. /healthz and /readyz are answered by marvelsite.health.HealthCheckMiddleware."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("characters.urls")),
]
