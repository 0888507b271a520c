"""Test settings: the real settings module, with test-only defaults for the environment.

With MONGODB_URI set the suite runs on that MongoDB (scripts/test starts a throw-away replica
set for it), else on SQLite.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-not-secret")
# The test client speaks plain HTTP; HTTPS settings are tested in tests/deploy/test_settings.py.
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")

from marvelsite.settings import *  # noqa: F403

# Tests render templates without running collectstatic first.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files from the app and static/ folders, as `runserver` does.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only
PAGE_CACHE_SECONDS = 0  # no page cache across tests; tests/site/test_views_cache.py turns it on
COUNT_CACHE_SECONDS = 0  # counted on every request; tests/site/test_counts.py turns keeping on
# One alias: pytest-django isolates each test on "default" and counts queries there. The
# "reads" alias and its router are exercised against a real replica set by a real server
# (tests/database/test_outage.py) and, for the routing decision itself, in
# tests/database/test_routing.py.
DATABASES.pop("reads", None)  # noqa: F405
DATABASE_ROUTERS = []
DB_BREAKER_SECONDS = 0  # a failure in one test must not refuse the next; tests turn it on
OTP_REQUIRED = (
    "off"  # the browser and admin tests log in with a password; tests/admin/test_otp.py turns it on
)
