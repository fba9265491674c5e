"""A Jaeger query-service client (v1 `/api/traces` JSON and v3 `/api/v3/traces` OTLP JSON) with hard time limits.

- `JaegerClient(url).get_trace(trace_id)` / `.find_traces(service, start, end)` / `.services()`: plain JSON
  documents (parse them with traces.ingest.parse_document); `None` / empty when Jaeger says 404 ("none found").
- `fetch_missing_trace(namespace, trace_id)`: query-through for a trace the console does not have, when
  settings.JAEGER_QUERY_URL is set. Returns within settings.JAEGER_TIMEOUT_SECONDS (plus storing) with a clear
  status: found (and stored), not_found, unreachable, slow, error, disabled, invalid.

The API flavour: a URL ending in `/api/v3` (e.g. `http://jaeger:16686/api/v3`) speaks v3; otherwise v1, which
every Jaeger query service (v1 and v2) serves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
import urllib3
from django.conf import settings
from django.db import transaction

from console.lookup import normalise_trace_id
from jobs.models import Namespace
from traces.ingest import ParseError, decode_json, parse_document
from traces.models import Trace

FOUND = "found"
NOT_FOUND = "not_found"
UNREACHABLE = "unreachable"
SLOW = "slow"
ERROR = "error"
DISABLED = "disabled"
INVALID = "invalid"

_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class JaegerError(Exception):
    """The query service failed: `status` is UNREACHABLE, SLOW or ERROR."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


class JaegerClient:
    label = "Jaeger"  # how messages name the backend

    def __init__(self, base_url: str, timeout: float | None = None, api: str | None = None) -> None:
        url = base_url.rstrip("/")
        if api is None:
            api = "v3" if url.endswith("/api/v3") else "v1"
        for suffix in ("/api/v3", "/api"):
            if url.endswith(suffix):
                url = url[: -len(suffix)]
        self.base = url
        self.api = api
        self.timeout = float(settings.JAEGER_TIMEOUT_SECONDS if timeout is None else timeout)
        self.session = requests.Session()

    # -- transport: a total deadline, not just a per-read timeout ------------------------------------------------

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any | None:
        deadline = time.monotonic() + self.timeout
        try:
            response = self.session.get(
                self.base + path,
                params=params,
                timeout=(min(self.timeout, 3.0), self.timeout),
                stream=True,
                headers={"Accept": "application/json"},
            )
        except requests.Timeout as exc:
            raise JaegerError(SLOW, f"{self.label} at {self.base} did not answer within {self.timeout:g} s") from exc
        except requests.RequestException as exc:
            message = f"{self.label} at {self.base} is unreachable ({type(exc).__name__})"
            raise JaegerError(UNREACHABLE, message) from exc
        with response:
            if response.status_code == 404:
                return None
            body = self._read_body(response, deadline)
            if response.status_code >= 400:
                raise JaegerError(ERROR, f"{self.label} answered HTTP {response.status_code} for {path}")
            try:
                return decode_json(body)
            except ParseError as exc:
                raise JaegerError(ERROR, f"{self.label}'s answer to {path} is not JSON") from exc

    def _read_body(self, response: requests.Response, deadline: float) -> bytes:
        """The body, read as it arrives; each socket read may only wait for what is left of the deadline
        (iter_content waits for whole chunks, and a per-read timeout restarts on every byte)."""
        raw = response.raw
        sock = getattr(raw.connection, "sock", None)
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                if sock is not None:
                    sock.settimeout(left)
                chunk = raw.read1(64 * 1024, decode_content=True)  # what one socket read brought, decompressed
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
                size += len(chunk)
                if size > _MAX_RESPONSE_BYTES:
                    raise JaegerError(ERROR, f"{self.label}'s answer exceeds {_MAX_RESPONSE_BYTES} bytes")
        except (TimeoutError, urllib3.exceptions.ReadTimeoutError) as exc:
            raise JaegerError(SLOW, f"{self.label} at {self.base} took longer than {self.timeout:g} s") from exc
        except (OSError, urllib3.exceptions.HTTPError, requests.RequestException) as exc:
            raise JaegerError(SLOW, f"{self.label} at {self.base} stalled ({type(exc).__name__})") from exc

    # -- the API -------------------------------------------------------------------------------------------------

    def get_trace(self, trace_id: str) -> Any | None:
        """The trace as Jaeger returns it, or None when Jaeger does not have it."""
        if self.api == "v3":
            doc = self._get(f"/api/v3/traces/{quote(trace_id, safe='')}")
            if doc is None or not (doc.get("result") or {}).get("resourceSpans"):
                return None
            return doc
        doc = self._get(f"/api/traces/{quote(trace_id, safe='')}")
        if doc is None or not doc.get("data"):
            return None
        return doc

    def find_traces(
        self, service: str, start: datetime, end: datetime, limit: int = 100, operation: str | None = None
    ) -> Any | None:
        if self.api == "v3":
            params: dict[str, Any] = {
                "query.service_name": service,
                "query.start_time_min": _rfc3339(start),
                "query.start_time_max": _rfc3339(end),
                "query.search_depth": limit,
            }
            if operation:
                params["query.operation_name"] = operation
            return self._get("/api/v3/traces", params)
        params = {
            "service": service,
            "start": int(start.timestamp() * 1_000_000),
            "end": int(end.timestamp() * 1_000_000),
            "limit": limit,
        }
        if operation:
            params["operation"] = operation
        return self._get("/api/traces", params)

    def services(self) -> list[str]:
        if self.api == "v3":
            doc = self._get("/api/v3/services") or {}
            names = doc.get("services") or []
        else:
            doc = self._get("/api/services") or {}
            names = doc.get("data") or []
        return sorted(str(n) for n in names if n)


@dataclass(frozen=True)
class FetchResult:
    status: str  # found | not_found | unreachable | slow | error | disabled | invalid
    trace_id: str
    message: str = ""
    stored: int = 0
    rejected: int = 0

    @property
    def found(self) -> bool:
        return self.status == FOUND


def fetch_missing_trace(
    namespace: Namespace | int, trace_id: str, replace: Callable[[], None] | None = None
) -> FetchResult:
    """Ask the configured Jaeger for a trace the console does not have; store it in `namespace` when found."""
    url = settings.JAEGER_QUERY_URL
    if not url:
        return FetchResult(DISABLED, trace_id, "No Jaeger query service is configured (JAEGER_QUERY_URL).")
    return fetch_into(JaegerClient(url), namespace, trace_id, replace)


def fetch_into(
    client: JaegerClient, namespace: Namespace | int, trace_id: str, replace: Callable[[], None] | None = None
) -> FetchResult:
    """Ask a backend's client (Jaeger's, or Tempo's: traces/tempo.py) for a trace; store it in `namespace`, whole
    (whatever JOBTRACE_SPAN_STORAGE says: someone opened it). `replace` runs first, in the same transaction (the
    trace page drops a summaries-only trace's outline spans so the backend's copy takes their place)."""
    from traces.store import store_spans

    label = client.label
    normal = normalise_trace_id(trace_id)
    if normal is None:
        return FetchResult(INVALID, trace_id, "A trace id is 32 (or 16) hex characters.")
    namespace_id = namespace if isinstance(namespace, int) else namespace.pk
    if Trace.objects.filter(trace_id=normal).exclude(namespace_id=namespace_id).exists():
        # The backend has no tenant boundary: a trace another namespace already holds is never copied across it.
        return FetchResult(NOT_FOUND, normal, f"No trace {normal} in this namespace.")
    try:
        doc = client.get_trace(normal)
        if doc is None and normal.startswith("0" * 16):  # a 64-bit id: the backend may know it unpadded
            doc = client.get_trace(normal[16:])
    except JaegerError as exc:
        return FetchResult(exc.status, normal, str(exc))
    if doc is None:
        return FetchResult(NOT_FOUND, normal, f"{label} at {client.base} has no trace {normal}.")
    try:
        parsed = parse_document(doc)
    except ParseError as exc:
        return FetchResult(ERROR, normal, f"{label}'s answer could not be read: {exc}")
    if not parsed.spans:
        return FetchResult(NOT_FOUND, normal, f"{label} answered, but with no readable spans.", 0, parsed.rejected)
    with transaction.atomic():
        if replace is not None:
            replace()
        stored = store_spans(namespace, parsed.spans, storage="all")
    return FetchResult(FOUND, normal, f"Fetched {stored.stored} span(s) from {label}.", stored.stored, parsed.rejected)
