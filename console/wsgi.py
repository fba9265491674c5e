"""WSGI entry point (gunicorn console.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

from console.chunked import ChunkedBodyApplication
from console.runtime import tune_gc

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
# Chunked request bodies (every Node.js OTLP exporter) are read whole before Django sees them: console/chunked.py.
application = ChunkedBodyApplication(get_wsgi_application())
tune_gc()
