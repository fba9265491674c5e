"""WSGI entry point (gunicorn console.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from console.bodies import RequestBodyApplication
from console.runtime import tune_gc

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
# Request bodies (chunked ones too: every Node.js OTLP exporter) are read whole, within a deadline, before Django
# sees them: console/bodies.py.
application = RequestBodyApplication(get_wsgi_application())
# Import every view now, while the worker boots, not during its first request (2-3 s on a busy box).
get_resolver().url_patterns  # noqa: B018
tune_gc()
