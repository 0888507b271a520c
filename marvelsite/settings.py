"""Settings for marvelsite, read from the environment (12-factor).

Every variable is listed in docs/configuration.md. Nothing secret has a default outside debug mode.
"""

import datetime as dt
import os
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from marvelsite.db_config import database_settings, is_mongodb, public_reads_settings
from marvelsite.secrets_env import secret

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def verbatim(name: str, default: str = "") -> str:
    """A secret exactly as given, from NAME or the file NAME_FILE names: django-environ takes
    a value starting with "$" for a reference to another variable, and keys made by Django's
    get_random_secret_key() can."""
    return secret(env.ENVIRON, name, default)


DEBUG = env.bool("DJANGO_DEBUG", default=False)

if DEBUG:
    SECRET_KEY = verbatim("DJANGO_SECRET_KEY", default="insecure-debug-only-key")
else:
    SECRET_KEY = verbatim("DJANGO_SECRET_KEY")
    if not SECRET_KEY:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set: it is required unless DJANGO_DEBUG=true."
        )

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

DATABASES = {"default": database_settings(os.environ, BASE_DIR)}
ON_MONGODB = is_mongodb(DATABASES["default"])
if ON_MONGODB:
    # Public pages read through "reads" (primaryPreferred), so they survive an election; the
    # admin and every write use "default" (primary). marvelsite/routing.py picks per request.
    DATABASES["reads"] = public_reads_settings(DATABASES["default"])
    DATABASE_ROUTERS = ["marvelsite.routing.PublicReadsRouter"]
# Once a database alias is shown down (a server-selection timeout, or this many failed requests
# in a row, each already retried), it answers 503 at once for DB_BREAKER_SECONDS
# (marvelsite/breaker.py) instead of each request waiting out server selection; 0 turns it off.
DB_BREAKER_SECONDS = env.int("MARVELSITE_DB_BREAKER_SECONDS", default=5)
DB_BREAKER_FAILURES = env.int("MARVELSITE_DB_BREAKER_FAILURES", default=3)

if ON_MONGODB:
    # django-mongodb-backend's recipe: ObjectId primary keys for the contrib apps, whose
    # migrations are regenerated for it in mongo_migrations/. Our own models use integer
    # Marvel ids, so characters/migrations serve both backends.
    DEFAULT_AUTO_FIELD = "django_mongodb_backend.fields.ObjectIdAutoField"
    CONTRIB_APPS = [
        "marvelsite.apps.MongoAdminConfig",
        "marvelsite.apps.MongoAuthConfig",
        "marvelsite.apps.MongoContentTypesConfig",
        "marvelsite.apps.MongoAxesConfig",
        "marvelsite.apps.MongoTOTPConfig",
        "marvelsite.apps.MongoStaticConfig",
    ]
    MIGRATION_MODULES = {
        "admin": "mongo_migrations.admin",
        "auth": "mongo_migrations.auth",
        "contenttypes": "mongo_migrations.contenttypes",
        "axes": "mongo_migrations.axes",
        "otp_totp": "mongo_migrations.otp_totp",
        "otp_static": "mongo_migrations.otp_static",
    }
else:
    DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
    CONTRIB_APPS = [
        "marvelsite.apps.OTPAdminConfig",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "axes",
        "django_otp.plugins.otp_totp",
        "django_otp.plugins.otp_static",
    ]

INSTALLED_APPS = [
    *CONTRIB_APPS,
    "marvelsite.apps.OTPConfig",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "characters",
]

MIDDLEWARE = [
    # First: /metrics on the metrics port only (off unless MARVELSITE_METRICS_PORT is set).
    "marvelsite.metrics.MetricsMiddleware",
    # Probes must be answered whatever the Host header and scheme.
    "marvelsite.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "marvelsite.csp_header.CSPMiddleware",  # django-csp's, its header built once
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "marvelsite.hygiene.ControlCharactersMiddleware",  # no control characters in any page
    # A kept page answered here: what is above applies to it, what is below is not needed.
    "characters.page_cache.PageCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified() (marvelsite/otp.py)
    "marvelsite.admin_messages.AdminMessageMiddleware",  # messages on the admin only
    "marvelsite.middleware.DatabaseUnavailableMiddleware",  # database down -> friendly 503
    "axes.middleware.AxesMiddleware",  # a locked-out login -> 429 (marvelsite/login_throttle.py)
]

ROOT_URLCONF = "marvelsite.urls"
# After the admin's login, when `next` is missing or points off the site (Django's default,
# /accounts/profile/, does not exist here).
LOGIN_REDIRECT_URL = "admin:index"
WSGI_APPLICATION = "marvelsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "characters.context_processors.search",
            ],
        },
    },
]

# Admin login throttling (django-axes): after MARVELSITE_LOGIN_FAILURES failed logins for a
# username from one address, or from one address whatever the usernames, attempts from there
# are refused (429) for the cool-off before any password is hashed; a successful login resets
# the count. Never per username alone: anyone could lock its owner out from everywhere. The
# counts are in the database: every worker and pod shares them.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: it refuses a locked-out attempt
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("MARVELSITE_LOGIN_FAILURES", default=5)
AXES_COOLOFF_TIME = dt.timedelta(seconds=env.int("MARVELSITE_LOGIN_COOLOFF_SECONDS", default=900))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True
# A refused attempt writes nothing: it neither counts nor extends the cool-off.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True  # successful logins need no table of their own
AXES_LOCKOUT_CALLABLE = "marvelsite.login_throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "marvelsite.login_throttle.client_address"
# Who needs a second factor (TOTP or a recovery code) for the admin: superusers, staff or off.
OTP_REQUIRED = env.str("MARVELSITE_OTP_REQUIRED", default="superusers")
if OTP_REQUIRED not in ("off", "superusers", "staff"):
    raise ImproperlyConfigured(
        f"MARVELSITE_OTP_REQUIRED must be off, superusers or staff, got {OTP_REQUIRED!r}"
    )
OTP_TOTP_ISSUER = "marvelsite"
# Proxies in front that append to X-Forwarded-For (an ingress: 1); 0 trusts REMOTE_ADDR only.
TRUSTED_PROXIES = env.int("MARVELSITE_TRUSTED_PROXIES", default=0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# English only (no LocaleMiddleware): off, Django skips its translation machinery on every
# uncached page (python -m bench.cpu_profile shows its share).
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Editors' uploaded images (characters/images.py): GridFS in the site's own MongoDB database,
# so they are replicated and backed up with the data; on SQLite, files under the data folder.
# Read from GridFS, each process keeps up to this many MB of them in memory (0: none).
UPLOADS_CACHE_MB = env.int("MARVELSITE_UPLOADS_CACHE_MB", default=32)
UPLOADS_STORAGE = (
    {
        "BACKEND": "characters.store.gridfs.GridFSStorage",
        "OPTIONS": {"cache_bytes": UPLOADS_CACHE_MB * 1024 * 1024},
    }
    if ON_MONGODB
    else {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": Path(os.environ.get("MARVELSITE_DATA_DIR") or BASE_DIR / "var") / "uploads"
        },
    }
)
STORAGES = {
    "default": UPLOADS_STORAGE,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Production security, on unless debugging; each can be turned off for plain-HTTP set-ups
# (a local cluster reached through `kubectl port-forward`).
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 60)
# Both reach beyond this site (every subdomain; browsers' built-in lists, slow to leave): only
# when asked for, and then `check --deploy` no longer reminds anyone of them.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [
    check
    for check, enabled in (
        ("security.W005", SECURE_HSTS_INCLUDE_SUBDOMAINS),
        ("security.W021", SECURE_HSTS_PRELOAD),
    )
    if not enabled
]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): our own scripts, styles and requests only, nothing
# inline; images also from Marvel's CDN (the thumbnails' host) or the hosts given.
IMAGE_HOSTS = env.list("MARVELSITE_IMAGE_HOSTS", default=["https://i.annihil.us"])
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "img-src": [SELF, *IMAGE_HOSTS],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Permissions-Policy: no page here uses any of these browser features.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "browsing-topics",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
}
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    # Behind a TLS-terminating ingress that sets (and strips client copies of) this header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# The port gunicorn binds for Prometheus beside the site's (gunicorn_conf.py); only there is
# /metrics answered (marvelsite/metrics.py). Unset: no metrics port, no /metrics.
METRICS_PORT = env.int("MARVELSITE_METRICS_PORT", default=None)

# Public list/character/comic pages are cached per process, keyed by the catalogue's version
# (admin edits show within a second); other writes show within this many seconds. 0 turns it
# off.
PAGE_CACHE_SECONDS = env.int("MARVELSITE_PAGE_CACHE_SECONDS", default=60)
# The lists' counts (public and admin) are kept per process and catalogue version too, whatever
# the page cache does: a count reads one index key per row. Other writes show within this many
# seconds. 0 counts on every request.
COUNT_CACHE_SECONDS = env.int("MARVELSITE_COUNT_CACHE_SECONDS", default=60)
# Per process. Rendered character cards (includes/card_grid.html) and the home page cards'
# comics (characters/cards.py), kept per catalogue version for COUNT_CACHE_SECONDS, have a
# cache of their own, so that they never push pages out: two entries per character at most.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "template_fragments": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "cards",
        "OPTIONS": {"MAX_ENTRIES": 5000},
    },
}

# seed_marvel's defaults (characters/ingest/seed.py; its options win). The numbers stay text
# here: the seed reads them and names the variable when one is wrong, so a typo fails the seed
# Job, never the site.
MARVEL_PUBLIC_KEY = verbatim("MARVEL_PUBLIC_KEY")
MARVEL_PRIVATE_KEY = verbatim("MARVEL_PRIVATE_KEY")
MARVEL_API_BASE_URL = env.str("MARVEL_API_BASE_URL", default="")
MARVEL_RETRIES = env.str("MARVEL_RETRIES", default="")
MARVEL_BACKOFF = env.str("MARVEL_BACKOFF", default="")
MARVEL_TIMEOUT = env.str("MARVEL_TIMEOUT", default="")
SEED_MAX_OFFSET = env.str("OFFSET", default="")  # the seed article's name for it
# The JSON one recorded file may hold, decompressed (a gzip bomb stops there).
MAX_RECORDING_BYTES = env.str("MARVELSITE_MAX_RECORDING_BYTES", default="")
# Import runs older than this are pruned by the next import (characters/ingest/history.py).
IMPORT_HISTORY_DAYS = env.int("MARVELSITE_IMPORT_HISTORY_DAYS", default=90)
if IMPORT_HISTORY_DAYS < 1:
    raise ImproperlyConfigured(
        f"MARVELSITE_IMPORT_HISTORY_DAYS must be at least 1, got {IMPORT_HISTORY_DAYS}"
    )

LOG_FORMATS = ("plain", "json")
LOG_FORMAT = env.str("DJANGO_LOG_FORMAT", default="plain")
if LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(
        f"DJANGO_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)} (got {LOG_FORMAT!r})."
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "marvelsite.log.json_formatter"},
    },
    "filters": {
        "disallowed_host": {"()": "marvelsite.log.DisallowedHostAsWarning"},
        "mask_secrets": {"()": "marvelsite.redaction.MaskSecretsFilter"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": LOG_FORMAT,
        },
    },
    "loggers": {
        "django.security.DisallowedHost": {"filters": ["disallowed_host"]},
        # Failures and lockouts are WARNINGs; its INFO lines would flood the log during a flood.
        "axes": {"level": "WARNING"},
        # Loggers that print Marvel API URLs: their keys are masked (seed_marvel).
        **{
            name: {"filters": ["mask_secrets"]}
            for name in (
                "characters.ingest.api",
                "urllib3.connectionpool",
                "urllib3.util.retry",
                "urllib3.response",
            )
        },
    },
    "root": {"handlers": ["stdout"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}
