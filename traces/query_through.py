"""Query-through: a trace the console does not hold (never received, expired by retention, or not kept in
summaries-only mode) fetched from the tracing backend when it is opened, and stored so the page can show it.

The backends: Jaeger (JAEGER_QUERY_URL, traces/jaeger.py). Both answer a `FetchResult` with a status and a message
the page shows as it is ("Jaeger at ... did not answer within 3 s").
"""

from __future__ import annotations

from django.conf import settings

from jobs.models import Namespace
from traces import jaeger
from traces.jaeger import DISABLED, FetchResult


def configured() -> bool:
    return bool(settings.JAEGER_QUERY_URL)


def fetch_missing_trace(namespace: Namespace | int, trace_id: str) -> FetchResult:
    """Ask the configured backend for the trace; store it in `namespace` when found."""
    if settings.JAEGER_QUERY_URL:
        return jaeger.fetch_missing_trace(namespace, trace_id)
    return FetchResult(DISABLED, trace_id, "No tracing backend is configured (JAEGER_QUERY_URL).")
