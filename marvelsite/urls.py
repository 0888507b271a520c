"""URLs. /healthz and /readyz are answered by marvelsite.health.HealthCheckMiddleware."""

from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

ROBOTS = "User-agent: *\nDisallow: /admin/\n"


@require_safe
@cache_control(public=True, max_age=86400)
def robots_txt(request):
    """Crawlers stay out of the admin (its login page would otherwise be indexed)."""
    return HttpResponse(ROBOTS, content_type="text/plain; charset=utf-8")


urlpatterns = [
    path("robots.txt", robots_txt),
    path("admin/", admin.site.urls),
    path("", include("characters.urls")),
]
