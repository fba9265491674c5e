"""Cross-cutting HTTP behaviour: database outages answer 503, and every response carries a strict CSP."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

try:
    from psycopg import OperationalError as _PsycopgOperationalError
except ImportError:  # pragma: no cover - psycopg is a dependency; SQLite-only checkouts still import this module

    class _PsycopgOperationalError(Exception):  # type: ignore[no-redef]
        pass


CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: the client (Alertmanager, an OTLP exporter, a script) should try again shortly."""
    retry_after = str(settings.JOBTRACE_RETRY_AFTER_SECONDS)
    message = "The database is unavailable; nothing was stored. Retry shortly."
    if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        response: HttpResponse = JsonResponse({"detail": message}, status=503)
    else:
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = retry_after
    return response


def is_database_outage(exc: BaseException) -> bool:
    """A lost or refused connection, as opposed to a bad query (which is a bug and must stay a 500)."""
    if isinstance(exc, InterfaceError):
        return True
    if isinstance(exc, OperationalError | _PsycopgOperationalError):
        text = str(exc).lower()
        return not any(word in text for word in ("syntax", "no such table", "no such column"))
    return False


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # psycopg's own errors reach here from its raw APIs (COPY) that Django does not wrap.
        if isinstance(exception, DatabaseError | _PsycopgOperationalError) and is_database_outage(exception):
            logger.warning("database unavailable while serving %s: %s", request.path, exception)
            return database_unavailable_response(request)
        return None


class ContentSecurityPolicyMiddleware:
    """No inline script or style anywhere: pages carry their behaviour in static files."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
