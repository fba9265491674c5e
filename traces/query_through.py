"""Query-through: a trace the console does not hold (never received, expired by retention, or not kept in
summaries-only mode) fetched from the tracing backend when it is opened, and stored so the page can show it.

The backends: Jaeger (JAEGER_QUERY_URL, traces/jaeger.py) and Grafana Tempo (TEMPO_QUERY_URL, traces/tempo.py);
with both set, Jaeger is asked first and Tempo when Jaeger does not have the trace. Both answer a `FetchResult`
with a status and a message the page shows as it is ("Tempo at ... did not answer within 3 s").
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from jobs.models import Namespace
from traces import jaeger, tempo
from traces.jaeger import DISABLED, NOT_FOUND, FetchResult
from traces.models import Span, Trace


def configured() -> bool:
    return bool(settings.JAEGER_QUERY_URL or settings.TEMPO_QUERY_URL)


def fetch_missing_trace(
    namespace: Namespace | int, trace_id: str, replace: Callable[[], None] | None = None
) -> FetchResult:
    """Ask the configured backend for the trace; store it in `namespace` when found (after `replace`)."""
    result = FetchResult(DISABLED, trace_id, "No tracing backend is configured (JAEGER_QUERY_URL, TEMPO_QUERY_URL).")
    if settings.JAEGER_QUERY_URL:
        result = jaeger.fetch_missing_trace(namespace, trace_id, replace)
        if result.status != NOT_FOUND or not settings.TEMPO_QUERY_URL:
            return result
    if settings.TEMPO_QUERY_URL:
        return tempo.fetch_missing_trace(namespace, trace_id, replace)
    return result


def is_summary_only(namespace_id: int, trace_id: str) -> bool:
    """Whether the trace's stored spans are summaries-only mode's outline (traces.store.SUMMARY_ONLY_SCOPE)."""
    from traces.store import SUMMARY_ONLY_SCOPE

    scope = Span.objects.filter(namespace_id=namespace_id, trace_id=trace_id).values_list("scope", flat=True).first()
    return scope == SUMMARY_ONLY_SCOPE


def fetch_whole(trace: Trace) -> FetchResult:
    """A summaries-only trace opened: the backend's copy replaces the outline spans (nothing changes when the
    backend does not have it or fails)."""

    def replace() -> None:
        Span.objects.filter(namespace_id=trace.namespace_id, trace_id=trace.trace_id).delete()

    return fetch_missing_trace(trace.namespace_id, trace.trace_id, replace)
