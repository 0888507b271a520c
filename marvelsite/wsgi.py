"""WSGI entry point for gunicorn: `gunicorn -c python:marvelsite.gunicorn_conf marvelsite.wsgi`."""

import os
import sys

from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marvelsite.settings")

try:
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
except ImproperlyConfigured as exc:
    # One clear line in the pod log instead of a stack trace per worker.
    sys.exit(f"Configuration error: {exc}")
