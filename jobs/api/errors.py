"""API errors: DRF's handler, plus 503 + Retry-After when the database is unavailable, and 413 for a body over the
size limit on every endpoint, in the records' error shape."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from console.middleware import is_database_outage


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DatabaseError) and is_database_outage(exc):
        return Response(
            {"detail": "The database is unavailable; nothing was stored. Retry shortly."},
            status=503,
            headers={"Retry-After": str(settings.JOBTRACE_RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, RequestDataTooBig):
        return body_too_large()
    return drf_exception_handler(exc, context)


def body_too_large() -> Response:
    """413: what every JSON endpoint answers to a body over DATA_UPLOAD_MAX_MEMORY_SIZE (raised by Django's
    `request.body`, which the records endpoints and the JSON parser both read through). `errors` as the records
    endpoints word a problem with the whole body (`index` and `field` null), `detail` as DRF's errors do."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    message = f"The body is larger than {limit} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE); send smaller batches."
    return Response({"detail": message, "errors": [{"index": None, "field": None, "message": message}]}, status=413)
