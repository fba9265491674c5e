"""Per-trace summaries, recomputed from the stored spans of every touched trace.

Never incremental counters: an exporter's retry, a span that arrives twice or an hour late, or a child before its
parent all leave the summary exactly what the stored spans say. Per batch: one aggregate query (per trace and
service) and one root query for all touched traces, then two upserts (Trace, TraceService).

One shortcut, on PostgreSQL's ingest path: a trace that had no stored span before this batch (asked under the
writer's per-trace lock, see `new_traces`) has exactly the batch's spans stored, so its summary is computed from
the rows being written (`store_new`) instead of being read back: the same aggregate, without two index scans and
sorts over spans that were just written (about 5 µs of PostgreSQL CPU per span of 6).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from django.db import connection
from django.db.models import Count, F, Max, Min, Q
from django.utils import timezone

from traces.ingest.spans import MAX_NS
from traces.models import Span, StatusCode, Trace, TraceService

_TRACE_FIELDS = [
    "root_span_id",
    "root_service",
    "root_name",
    "start_ns",
    "duration_ns",
    "span_count",
    "error_count",
    "services",
    "updated_at",
]


def _roots(namespace_id: int, trace_ids: Sequence[str], parentless: bool) -> dict[str, tuple[str, str, str]]:
    qs = Span.objects.filter(namespace_id=namespace_id, trace_id__in=trace_ids)
    if parentless:
        qs = qs.filter(parent_span_id="")
    qs = qs.order_by("trace_id", "start_ns", "span_id")
    if connection.vendor == "postgresql":
        qs = qs.distinct("trace_id")
    roots: dict[str, tuple[str, str, str]] = {}
    for trace_id, span_id, service, name in qs.values_list("trace_id", "span_id", "service", "name"):
        roots.setdefault(trace_id, (span_id, service, name))
    return roots


# The upserts both PostgreSQL paths end with: a summary (returning what the per-service rows need), then the
# per-service rows. Constant SQL only.
_TRACE_UPSERT = """ON CONFLICT (namespace_id, trace_id) DO UPDATE SET
        root_span_id = EXCLUDED.root_span_id, root_service = EXCLUDED.root_service, root_name = EXCLUDED.root_name,
        start_ns = EXCLUDED.start_ns, duration_ns = EXCLUDED.duration_ns, span_count = EXCLUDED.span_count,
        error_count = EXCLUDED.error_count, services = EXCLUDED.services, updated_at = EXCLUDED.updated_at
    RETURNING id, trace_id, start_ns"""
_SERVICE_UPSERT = """ON CONFLICT (trace_id, service) DO UPDATE SET
    start_ns = EXCLUDED.start_ns, span_count = EXCLUDED.span_count, error_count = EXCLUDED.error_count"""


# The end is summed as numeric: spans stored before the parsers checked that start + duration fits a bigint
# (Jaeger and Zipkin imports) must not make every later write to their trace fail.
# PostgreSQL: the whole recomputation in one statement, computed where the spans are: the per-(trace, service)
# aggregate is read once, rolled up per trace, upserted into traces_trace, and the RETURNING rows feed the
# per-service upsert (no second lookup of the traces).
_PG_RECOMPUTE = f"""
WITH per_service AS (
    SELECT trace_id, service, min(start_ns) AS start_ns, max(start_ns::numeric + duration_ns) AS end_ns, count(*) AS n,
           count(*) FILTER (WHERE status_code = 2) AS errors
    FROM traces_span WHERE namespace_id = %(ns)s AND trace_id = ANY(%(ids)s)
    GROUP BY trace_id, service
), per_trace AS (
    SELECT trace_id, min(start_ns) AS start_ns, max(end_ns) AS end_ns, sum(n) AS n, sum(errors) AS errors,
           jsonb_agg(service ORDER BY service COLLATE "C") AS services
    FROM per_service GROUP BY trace_id
), root AS (
    SELECT DISTINCT ON (trace_id) trace_id, span_id, service, name
    FROM traces_span WHERE namespace_id = %(ns)s AND trace_id = ANY(%(ids)s)
    ORDER BY trace_id, (parent_span_id <> ''), start_ns, span_id
), upserted AS (
    INSERT INTO traces_trace (namespace_id, trace_id, root_span_id, root_service, root_name, start_ns, duration_ns,
                              span_count, error_count, services, first_seen_at, updated_at)
    SELECT %(ns)s, a.trace_id, r.span_id, r.service, r.name, a.start_ns,
           least(greatest(a.end_ns - a.start_ns, 0), 9223372036854775807), a.n,
           a.errors, a.services, %(now)s, %(now)s
    FROM per_trace a JOIN root r USING (trace_id)
    {_TRACE_UPSERT}
)
INSERT INTO traces_traceservice (trace_id, namespace_id, service, start_ns, span_count, error_count)
SELECT u.id, %(ns)s, s.service, u.start_ns, s.n, s.errors
FROM per_service s JOIN upserted u USING (trace_id)
{_SERVICE_UPSERT}
"""  # noqa: S608 (constant SQL)


def recompute(namespace_id: int, trace_ids: Sequence[str]) -> None:
    """Upsert the summary (and per-service rows) of each trace from its stored spans."""
    if not trace_ids:
        return
    if connection.vendor == "postgresql":
        params = {"ns": namespace_id, "ids": list(trace_ids), "now": timezone.now()}
        with connection.cursor() as cursor:
            cursor.execute(_PG_RECOMPUTE, params)
        return
    _recompute_orm(namespace_id, trace_ids)


# Traces of these ids with no stored span in the namespace: one index probe each, stopping at the first span. A
# scalar subquery with LIMIT, not NOT EXISTS: the planner turns NOT EXISTS into an anti-join, and when the
# namespace's statistics are stale (a young namespace, analysed while nearly empty) it reads every span of the
# namespace per batch instead of probing by trace id (seen in the benchmark: 300 µs of PostgreSQL CPU per span).
_PG_NEW_TRACES = """
SELECT t FROM unnest(string_to_array(%(ids)s, ',')) AS t
WHERE (SELECT 1 FROM traces_span s WHERE s.namespace_id = %(ns)s AND s.trace_id = t LIMIT 1) IS NULL
"""


def new_traces(namespace_id: int, trace_ids: Sequence[str]) -> set[str]:
    """PostgreSQL: which of these traces have no stored span yet. Ask under the writer's lock on the traces
    (traces.locks.lock) and before writing, so the answer holds until commit."""
    with connection.cursor() as cursor:
        # Trace ids are 32 hex digits (the parsers guarantee it): one comma-separated text, not an array literal.
        cursor.execute(_PG_NEW_TRACES, {"ns": namespace_id, "ids": ",".join(trace_ids)})
        return {row[0] for row in cursor.fetchall()}


# The spans' fields a summary needs, in this order (as stored: truncated and NUL-free).
SUMMARY_FIELDS = ("trace_id", "span_id", "parent_span_id", "name", "service", "start_ns", "duration_ns", "status_code")

# PostgreSQL: summaries computed in Python, as JSON records, upserted like _PG_RECOMPUTE does.
_PG_STORE_NEW = f"""
WITH upserted AS (
    INSERT INTO traces_trace (namespace_id, trace_id, root_span_id, root_service, root_name, start_ns, duration_ns,
                              span_count, error_count, services, first_seen_at, updated_at)
    SELECT %(ns)s, t.trace_id, t.root_span_id, t.root_service, t.root_name, t.start_ns, t.duration_ns, t.span_count,
           t.error_count, t.services, %(now)s, %(now)s
    FROM json_to_recordset(%(traces)s::json) AS t(
        trace_id text, root_span_id text, root_service text, root_name text, start_ns bigint, duration_ns bigint,
        span_count integer, error_count integer, services jsonb)
    {_TRACE_UPSERT}
)
INSERT INTO traces_traceservice (trace_id, namespace_id, service, start_ns, span_count, error_count)
SELECT u.id, %(ns)s, s.service, u.start_ns, s.span_count, s.error_count
FROM json_to_recordset(%(services)s::json) AS s(trace_id text, service text, span_count integer, error_count integer)
JOIN upserted u USING (trace_id)
{_SERVICE_UPSERT}
"""  # noqa: S608 (constant SQL)


def summarise(spans: Iterable[Sequence[Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Trace and per-service summaries of complete traces, from span tuples in SUMMARY_FIELDS order: what
    _PG_RECOMPUTE computes from the table (root: a parentless span first, then the earliest, then the lowest id)."""
    acc: dict[str, list[Any]] = {}
    per_service: dict[tuple[str, str], list[int]] = {}
    error = StatusCode.ERROR
    for trace_id, span_id, parent, name, service, start, duration, code in spans:
        end = start + duration
        root = (parent != "", start, span_id)
        t = acc.get(trace_id)
        if t is None:
            acc[trace_id] = [start, end, root, name, service]
        else:
            if start < t[0]:
                t[0] = start
            if end > t[1]:
                t[1] = end
            if root < t[2]:
                t[2], t[3], t[4] = root, name, service
        counts = per_service.get((trace_id, service))
        if counts is None:
            per_service[(trace_id, service)] = [1, int(code == error)]
        else:
            counts[0] += 1
            counts[1] += code == error
    services: dict[str, list[str]] = {}
    totals: dict[str, list[int]] = {}
    service_rows = []
    for (trace_id, service), (n, errors) in per_service.items():
        services.setdefault(trace_id, []).append(service)
        total = totals.setdefault(trace_id, [0, 0])
        total[0] += n
        total[1] += errors
        service_rows.append({"trace_id": trace_id, "service": service, "span_count": n, "error_count": errors})
    trace_rows = [
        {
            "trace_id": trace_id,
            "root_span_id": root[2],
            "root_service": service,
            "root_name": name,
            "start_ns": start,
            "duration_ns": max(end - start, 0),
            "span_count": totals[trace_id][0],
            "error_count": totals[trace_id][1],
            "services": sorted(services[trace_id]),
        }
        for trace_id, (start, end, root, name, service) in acc.items()
    ]
    return trace_rows, service_rows


def store_new(namespace_id: int, spans: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL: upsert the summaries of traces whose every stored span is in `spans` (see `new_traces`)."""
    trace_rows, service_rows = summarise(spans)
    if not trace_rows:
        return
    params = {
        "ns": namespace_id,
        "traces": orjson.dumps(trace_rows).decode(),
        "services": orjson.dumps(service_rows).decode(),
        "now": timezone.now(),
    }
    with connection.cursor() as cursor:
        cursor.execute(_PG_STORE_NEW, params)


def _recompute_orm(namespace_id: int, trace_ids: Sequence[str]) -> None:
    """The same with the ORM (SQLite): one aggregate query, one root query, two upserts."""
    per_service = (
        Span.objects.filter(namespace_id=namespace_id, trace_id__in=trace_ids)
        .order_by()
        .values("trace_id", "service")
        .annotate(
            start=Min("start_ns"),
            end=Max(F("start_ns") + F("duration_ns")),
            n=Count("id"),
            errors=Count("id", filter=Q(status_code=StatusCode.ERROR)),
        )
    )
    agg: dict[str, dict[str, Any]] = {}
    services: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for row in per_service:
        t = agg.setdefault(row["trace_id"], {"start": row["start"], "end": row["end"], "n": 0, "errors": 0})
        t["start"] = min(t["start"], row["start"])
        t["end"] = max(t["end"], row["end"])
        t["n"] += row["n"]
        t["errors"] += row["errors"]
        services[row["trace_id"]].append((row["service"], row["n"], row["errors"]))
    if not agg:
        return
    roots = _roots(namespace_id, list(agg), parentless=True)
    missing = [t for t in agg if t not in roots]
    if missing:  # the root has not arrived (yet): the earliest span stands in
        roots.update(_roots(namespace_id, missing, parentless=False))
    now = timezone.now()
    summaries = []
    for trace_id, t in agg.items():
        root = roots.get(trace_id, ("", "", ""))
        summaries.append(
            Trace(
                namespace_id=namespace_id,
                trace_id=trace_id,
                root_span_id=root[0],
                root_service=root[1],
                root_name=root[2],
                start_ns=t["start"],
                # capped: SQLite turns an overflowing sum into a float (spans stored before times were checked)
                duration_ns=min(max(int(t["end"]) - t["start"], 0), MAX_NS),
                span_count=t["n"],
                error_count=t["errors"],
                services=sorted(s for s, _, _ in services[trace_id]),
                first_seen_at=now,
                updated_at=now,
            )
        )
    Trace.objects.bulk_create(
        summaries, update_conflicts=True, unique_fields=["namespace", "trace_id"], update_fields=_TRACE_FIELDS
    )
    if any(s.pk is None for s in summaries):
        pks = dict(
            Trace.objects.filter(namespace_id=namespace_id, trace_id__in=list(agg)).values_list("trace_id", "id")
        )
        for s in summaries:
            s.pk = pks[s.trace_id]
    rows = [
        TraceService(
            trace_id=s.pk,
            namespace_id=namespace_id,
            service=name[:255],
            start_ns=s.start_ns,
            span_count=n,
            error_count=errors,
        )
        for s in summaries
        for name, n, errors in services[s.trace_id]
    ]
    TraceService.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["trace", "service"],
        update_fields=["start_ns", "span_count", "error_count"],
    )


# --- clock skew ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SkewWarning:
    span_id: str
    parent_span_id: str
    service: str
    parent_service: str
    early_by_ns: int

    @property
    def message(self) -> str:
        ms = self.early_by_ns / 1e6
        return (
            f"span {self.span_id} ({self.service}) starts {ms:.3f} ms before its parent {self.parent_span_id} "
            f"({self.parent_service}): clock skew between hosts; times are shown as received"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "clock_skew",
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "early_by_ns": self.early_by_ns,
            "message": self.message,
        }


def _host(span: Any) -> str:
    resource = getattr(span, "resource", None) or {}
    return str(resource.get("host.name") or resource.get("host.id") or resource.get("host.ip") or "")


def clock_skew(spans: Iterable[Any]) -> list[SkewWarning]:
    """Children that start before their parent on another clock: another service, or the same service on another
    host (resource `host.name`, `host.id` or `host.ip`). Kept as received, flagged."""
    items = list(spans)
    by_id = {s.span_id: s for s in items}
    warnings = []
    for s in items:
        parent = by_id.get(s.parent_span_id) if s.parent_span_id else None
        if parent is None or (parent.service == s.service and _host(parent) == _host(s)):
            continue
        if s.start_ns < parent.start_ns:
            warnings.append(
                SkewWarning(s.span_id, parent.span_id, s.service, parent.service, parent.start_ns - s.start_ns)
            )
    return warnings
