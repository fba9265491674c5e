"""Overload: load shedding on the receivers.

- `IngestConcurrencyMiddleware`: at most `JOBTRACE_INGEST_CONCURRENCY` requests that send data (POST, PUT,
  PATCH, DELETE) under `JOBTRACE_INGEST_PATHS` (`/v1/` — OTLP traces, and logs when they come — and `/api/v1/`)
  are handled at once per server process; one more is answered 503 with Retry-After at once, as the
  OpenTelemetry Collector's memory limiter refuses data, instead of queueing until every sender times out.
  Request bodies are read before this (console/bodies.py): a slow sender never holds a slot.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from google.rpc import status_pb2

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# google.rpc.Code values for the OTLP paths
_RESOURCE_EXHAUSTED = 8
_UNAVAILABLE = 14


def _starts_with_any(path: str, prefixes: list[str]) -> bool:
    return any(path.startswith(prefix) for prefix in prefixes)


def refusal(request: HttpRequest, status: int, message: str, retry_after: float) -> HttpResponse:
    """A 429/503 in the caller's language: an OTLP Status on /v1/, JSON on the API, text elsewhere."""
    if request.path_info.startswith("/v1/"):
        code = _RESOURCE_EXHAUSTED if status == 429 else _UNAVAILABLE
        if (request.META.get("CONTENT_TYPE") or "").split(";")[0].strip().lower() == "application/json":
            response = HttpResponse(
                json.dumps({"code": code, "message": message}), status=status, content_type="application/json"
            )
        else:
            body = status_pb2.Status(code=code, message=message).SerializeToString()
            response = HttpResponse(body, status=status, content_type="application/x-protobuf")
    elif request.path_info.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse({"detail": message}, status=status)
    else:
        response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


class IngestConcurrencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._lock = threading.Lock()
        self.busy = 0

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cap = settings.JOBTRACE_INGEST_CONCURRENCY
        if (
            not cap
            or request.method not in _WRITES
            or not _starts_with_any(request.path_info, settings.JOBTRACE_INGEST_PATHS)
        ):
            return self.get_response(request)
        with self._lock:
            full = self.busy >= cap
            if not full:
                self.busy += 1
        if full:
            return refusal(
                request,
                503,
                f"The console is handling {cap} ingest requests in this process already; nothing was stored. "
                "Retry shortly.",
                min(settings.JOBTRACE_RETRY_AFTER_SECONDS, 5),
            )
        try:
            return self.get_response(request)
        finally:
            with self._lock:
                self.busy -= 1
