"""API errors: DRF's handler, plus 503 + Retry-After when the database is unavailable."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from console.middleware import is_database_outage


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DatabaseError) and is_database_outage(exc):
        from django.conf import settings

        return Response(
            {"detail": "The database is unavailable; nothing was stored. Retry shortly."},
            status=503,
            headers={"Retry-After": str(settings.JOBTRACE_RETRY_AFTER_SECONDS)},
        )
    return drf_exception_handler(exc, context)
