"""A Grafana Tempo query client (trace by id), beside Jaeger's, with the same time limits and messages.

`TempoClient(url).get_trace(trace_id)` asks `/api/v2/traces/<id>` (Tempo 2.5+: `{"trace": {OTLP/JSON}}`), then,
when that path is unknown (an older Tempo answers 404), `/api/traces/<id>` (`{"batches": [...]}`, as
../shared/fixtures/tempo shows: base64 ids, kind as an enum name). Either answer is OTLP/JSON that
traces.ingest.parse_document reads. `fetch_missing_trace` is query-through when settings.TEMPO_QUERY_URL is set.
The transport (a total deadline, a bounded body) is JaegerClient's; only the paths and the name differ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from django.conf import settings

from jobs.models import Namespace
from traces.jaeger import DISABLED, FetchResult, JaegerClient, fetch_into


class TempoClient(JaegerClient):
    label = "Tempo"

    def __init__(self, base_url: str, timeout: float | None = None) -> None:
        super().__init__(base_url, settings.TEMPO_TIMEOUT_SECONDS if timeout is None else timeout, api="tempo")
        self.base = base_url.rstrip("/")

    def get_trace(self, trace_id: str) -> Any | None:
        """The trace as OTLP/JSON (`resourceSpans` or Tempo's `batches`), or None when Tempo does not have it."""
        wanted = quote(trace_id, safe="")
        doc = self._get(f"/api/v2/traces/{wanted}")
        if isinstance(doc, dict) and isinstance(doc.get("trace"), dict):
            doc = doc["trace"]
        if doc is None:
            doc = self._get(f"/api/traces/{wanted}")
        if not isinstance(doc, dict) or not (doc.get("resourceSpans") or doc.get("batches")):
            return None
        return doc


def fetch_missing_trace(
    namespace: Namespace | int, trace_id: str, replace: Callable[[], None] | None = None
) -> FetchResult:
    """Ask the configured Tempo for a trace the console does not have; store it in `namespace` when found."""
    url = settings.TEMPO_QUERY_URL
    if not url:
        return FetchResult(DISABLED, trace_id, "No Tempo is configured (TEMPO_QUERY_URL).")
    return fetch_into(TempoClient(url), namespace, trace_id, replace)
