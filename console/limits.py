"""Overload and abuse: load shedding on the receivers, rate limits on the API and OTLP, login lockout's answer.

- `IngestConcurrencyMiddleware`: at most `JOBTRACE_INGEST_CONCURRENCY` requests that send data (POST, PUT,
  PATCH, DELETE) under `JOBTRACE_INGEST_PATHS` (`/v1/` — OTLP traces, and logs when they come — and `/api/v1/`)
  are handled at once per server process; one more is answered 503 with Retry-After at once, as the
  OpenTelemetry Collector's memory limiter refuses data, instead of queueing until every sender times out.
  Request bodies are read before this (console/bodies.py): a slow sender never holds a slot.
- `RateLimitMiddleware`: token buckets per client address and per bearer token on `JOBTRACE_RATE_LIMIT_PATHS`,
  and one for requests answered 401 per address (bad-token floods): past them 429 with Retry-After, before any
  database work. The buckets live in each server process's memory: no I/O on the hot path, and they keep working
  while the database is down. So a limit is per process: with gunicorn's 2 workers and N replicas an address
  gets up to 2 x N times the limit. Put a global limit in the front proxy (nginx `limit_req`,
  docs/serving.md) when that matters.
- `login_locked_out`: django-axes' answer to a locked-out login (429 with Retry-After).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from google.rpc import status_pb2

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_MAX_KEYS = 100_000  # distinct addresses/tokens tracked per process before the table starts afresh

# google.rpc.Code values for the OTLP paths
_RESOURCE_EXHAUSTED = 8
_UNAVAILABLE = 14


def client_address_of(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or behind `JOBTRACE_TRUSTED_PROXY_COUNT` proxies the address the
    outermost trusted proxy saw (X-Forwarded-For, counted from the right: what a client writes there is ignored)."""
    meta = request.META
    proxies = settings.JOBTRACE_TRUSTED_PROXY_COUNT
    if proxies:
        hops = [hop.strip() for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return meta.get("REMOTE_ADDR") or None  # None: a request built in-process (a test's force_login)


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


class Buckets:
    """Token buckets: `limit` = (N, period seconds) lets N requests through at once and N per period after."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[Any, tuple[float, float]] = {}

    def _level(self, key: Any, limit: tuple[int, float], now: float) -> float:
        count, period = limit
        tokens, stamp = self._state.get(key, (float(count), now))
        return min(float(count), tokens + (now - stamp) * count / period)

    def wait(self, key: Any, limit: tuple[int, float], now: float) -> float:
        """Seconds until one request may pass (0: now), without taking it."""
        with self._lock:
            tokens = self._level(key, limit, now)
        return 0.0 if tokens >= 1 else (1 - tokens) * limit[1] / limit[0]

    def take(self, key: Any, limit: tuple[int, float], now: float) -> float:
        """Take one request's token: 0 when there was one, else the seconds until there is (nothing taken)."""
        with self._lock:
            tokens = self._level(key, limit, now)
            if len(self._state) >= _MAX_KEYS and key not in self._state:
                self._state.clear()
            if tokens >= 1:
                self._state[key] = (tokens - 1, now)
                return 0.0
            self._state[key] = (tokens, now)
        return (1 - tokens) * limit[1] / limit[0]

    def clear(self) -> None:
        with self._lock:
            self._state.clear()


buckets = Buckets()


def _token_key(request: HttpRequest) -> bytes | None:
    header = request.META.get("HTTP_AUTHORIZATION") or ""
    scheme, _, raw = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    return hashlib.sha256(raw.strip().encode("utf-8", "surrogatepass")).digest()[:16]


class RateLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _starts_with_any(request.path_info, settings.JOBTRACE_RATE_LIMIT_PATHS):
            return self.get_response(request)
        address = client_address_of(request) or "unknown"
        now = time.monotonic()
        failures = settings.JOBTRACE_RATE_LIMIT_AUTH_FAILURES
        if failures and (wait := buckets.wait(("401", address), failures, now)):
            return refusal(request, 429, f"Too many requests from {address} had no valid token; retry later.", wait)
        per_address = settings.JOBTRACE_RATE_LIMIT_PER_ADDRESS
        if per_address and (wait := buckets.take(("address", address), per_address, now)):
            return refusal(request, 429, f"Too many requests from {address}; retry later.", wait)
        per_token = settings.JOBTRACE_RATE_LIMIT_PER_TOKEN
        token = _token_key(request) if per_token else None
        if token is not None and per_token and (wait := buckets.take(("token", token), per_token, now)):
            return refusal(request, 429, "Too many requests with this token; retry later.", wait)
        response = self.get_response(request)
        if failures and response.status_code == 401:
            buckets.take(("401", address), failures, now)
        return response


def login_locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """django-axes' lockout answer: 429 with Retry-After (the cool-off), for the login form and the admin alike."""
    seconds = settings.AXES_COOLOFF_TIME.total_seconds()
    response = HttpResponse(
        f"Too many failed sign-ins for this account from this address. Try again in {math.ceil(seconds / 60)} minutes.",
        status=429,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = str(math.ceil(seconds))
    return response
