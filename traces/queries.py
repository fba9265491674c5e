"""What pages and the API show of traces that belong to a record (the trace search has traces/filtersets.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.db import connections
from django.db.models import CharField, Count, Exists, OuterRef, Q, Window
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from console import links
from jobs.choices import FAILURE_STATUSES
from traces import recent
from traces import waterfall as wf_mod
from traces.filtersets import SCHEDULER_ORIGIN
from traces.models import Span, SpanLink, Trace

if TYPE_CHECKING:
    from jobs.models import Execution

EXECUTION_TRACES = 50  # listed on the execution page and in its API detail; the count says how many there are


@dataclass(frozen=True)
class LinkedTrace:
    trace_id: str
    relation: str  # "execution" (the record's own trace id), "shard" (a shard's trace), "linked" (by spans)
    shard_id: str | None
    root_service: str
    root_name: str
    start: datetime
    duration_ns: int
    span_count: int
    error_count: int
    services: list[str]

    @property
    def url(self) -> str:
        return links.trace_url(self.trace_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "url": self.url,
            "relation": self.relation,
            "shard_id": self.shard_id,
            "root_service": self.root_service,
            "root_name": self.root_name,
            "start": self.start,
            "duration_ms": self.duration_ns / 1_000_000,
            "span_count": self.span_count,
            "error_count": self.error_count,
            "services": self.services,
        }


@dataclass(frozen=True)
class LinkedTraces:
    total: int = 0
    traces: list[LinkedTrace] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return self.total > len(self.traces)

    @property
    def failing(self) -> int:
        """Of those listed: the traces with an error span (failing ones are listed first)."""
        return sum(1 for t in self.traces if t.error_count)

    @property
    def more_failing(self) -> bool:
        """More traces with errors may exist than are listed: the list is cut and every listed one failed."""
        return self.truncated and self.failing == len(self.traces)


def execution_traces(execution: Execution, limit: int | None = None) -> LinkedTraces:
    """The execution's traces, failing first, at most `limit` (EXECUTION_TRACES), with how many there are in all
    (one query)."""
    limit = EXECUTION_TRACES if limit is None else limit
    rows = list(
        Trace.objects.of_execution(execution)
        .failing_first()
        .annotate(total=Window(Count("id")))
        .values_list(
            "trace_id",
            "shard__shard_id",
            "shard__execution_id",
            "root_service",
            "root_name",
            "start_ns",
            "duration_ns",
            "span_count",
            "error_count",
            "services",
            "total",
        )[:limit]
    )
    traces = []
    for trace_id, shard_id, shard_exec, service, name, start_ns, duration_ns, spans, errors, services, _ in rows:
        shard_id = shard_id if shard_exec == execution.pk else None
        if trace_id == execution.trace_id:
            relation = "execution"
        elif shard_id is not None:
            relation = "shard"
        else:
            relation = "linked"
        traces.append(
            LinkedTrace(
                trace_id,
                relation,
                shard_id,
                service,
                name,
                datetime.fromtimestamp(start_ns // 1_000_000_000, tz=UTC).replace(
                    microsecond=(start_ns % 1_000_000_000) // 1000
                ),
                duration_ns,
                spans,
                errors,
                list(services or []),
            )
        )
    return LinkedTraces(rows[0][-1] if rows else 0, traces)


# --- what the trace search's pickers offer ------------------------------------------------------------------------

PICKER_LIMIT = 500  # services (or operations) a picker lists at most
OPERATION_WINDOW = 5000  # the newest traces whose root operations the operation picker lists

# Distinct services per namespace by a loose index scan: one probe of (namespace, service, -start_ns) per service
# (a recursive CTE, since PostgreSQL has no skip scan), never a read of every per-trace row.
_PG_SERVICES = """
WITH RECURSIVE found(ns, service, n) AS (
    SELECT n.ns, (SELECT min(service) FROM traces_traceservice WHERE namespace_id = n.ns), 1
    FROM unnest(%(ns)s::bigint[]) AS n(ns)
    UNION ALL
    SELECT f.ns, (SELECT min(service) FROM traces_traceservice WHERE namespace_id = f.ns AND service > f.service),
           f.n + 1
    FROM found f WHERE f.service IS NOT NULL AND f.n < %(limit)s
)
SELECT DISTINCT service FROM found WHERE service IS NOT NULL ORDER BY service
"""


def stored_services(namespace_ids: Iterable[int]) -> list[str]:
    """Every service with a span stored in these namespaces, sorted as people read them (case aside), at most
    PICKER_LIMIT per namespace."""
    from django.db import connection

    from traces.models import TraceService

    ids = sorted(namespace_ids)
    if not ids:
        return []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_PG_SERVICES, {"ns": ids, "limit": PICKER_LIMIT})
            found = [row[0] for row in cursor.fetchall()]
    else:
        rows = TraceService.objects.filter(namespace_id__in=ids).order_by("service").values_list("service", flat=True)
        found = list(rows.distinct()[:PICKER_LIMIT])
    return sorted(found, key=lambda name: (name.lower(), name))


def recent_operations(namespace_ids: Iterable[int]) -> list[tuple[str, str]]:
    """(service, operation) of the root spans of the newest OPERATION_WINDOW traces, sorted: what the operation
    picker offers (the search itself also matches any span's name). One query, the same SQL on both databases: the
    window is an index range over (namespace, -start_ns), made distinct in the database, so a few rows reach
    Python, not thousands."""
    from django.db import connection

    ids = sorted(namespace_ids)
    if not ids:
        return []
    table = connection.ops.quote_name(Trace._meta.db_table)
    placeholders = ", ".join(["%s"] * len(ids))
    sql = (
        f"SELECT DISTINCT root_service, root_name FROM (SELECT root_service, root_name FROM {table} "  # noqa: S608
        f"WHERE namespace_id IN ({placeholders}) ORDER BY start_ns DESC LIMIT %s) AS newest WHERE root_name <> ''"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*ids, OPERATION_WINDOW])
        found = {(service, name[:200]) for service, name in cursor.fetchall()}
    return sorted(found, key=lambda p: (p[0].lower(), p[1].lower()))[:PICKER_LIMIT]


# --- the spans of other traces that link to a trace (the trace page's "Spans that link here") ---------------------

LINKED_HERE_LIMIT = 50


@dataclass(frozen=True)
class LinkingSpan:
    """A span of another trace with a link into this one, named by what it is: its shard (id and labels, when its
    trace belongs to one) and its service and operation."""

    trace_id: str
    span_id: str
    ref: str
    failing: bool
    service: str
    name: str
    shard_id: str
    shard_labels: list[tuple[str, str]]
    shard_url: str

    @property
    def url(self) -> str:
        return links.trace_url(self.trace_id, self.span_id)


@dataclass(frozen=True)
class LinkedHere:
    total: int = 0
    spans: list[LinkingSpan] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return self.total > len(self.spans)

    @property
    def failing(self) -> int:
        return sum(1 for s in self.spans if s.failing)


def linked_here(namespace_id: int, trace_id: str, limit: int = LINKED_HERE_LIMIT) -> LinkedHere:
    """The spans of other traces that link to this trace, failing first (their trace has an error span or belongs to
    a failed shard), at most `limit`, with how many there are in all. Three queries whatever the count: the links
    (ordered and counted in the database, so a failing one among 2,500 is never cut), their spans, their traces'
    summaries with the owning shard."""
    failing = Exists(
        Trace.objects.filter(namespace_id=OuterRef("namespace_id"), trace_id=OuterRef("trace_id")).filter(
            Q(error_count__gt=0) | Q(shard__status__in=FAILURE_STATUSES)
        )
    )
    rows = list(
        SpanLink.objects.filter(namespace_id=namespace_id, linked_trace_id=trace_id)
        .exclude(trace_id=trace_id)
        .annotate(failing=failing, total=Window(Count("id")))
        .order_by("-failing", "trace_id", "span_id")
        .values_list("trace_id", "span_id", "ref_type", "failing", "total")[:limit]
    )
    if not rows:
        return LinkedHere()
    trace_ids = {r[0] for r in rows}
    span_ids = {r[1] for r in rows}
    spans = {
        (t, s): (service, name)
        for t, s, service, name in Span.objects.filter(
            namespace_id=namespace_id, trace_id__in=trace_ids, span_id__in=span_ids
        ).values_list("trace_id", "span_id", "service", "name")
    }
    owners = {
        t.trace_id: t.shard
        for t in Trace.objects.filter(namespace_id=namespace_id, trace_id__in=trace_ids)
        .select_related("shard__execution__job__namespace")
        .only(
            "trace_id",
            "shard__shard_id",
            "shard__labels",
            "shard__execution__execution_id",
            "shard__execution__job__name",
            "shard__execution__job__namespace__name",
        )
    }
    out = []
    for t, s, ref, is_failing, _ in rows:
        service, name = spans.get((t, s), ("", ""))
        shard = owners.get(t)
        out.append(
            LinkingSpan(
                t,
                s,
                ref,
                bool(is_failing),
                service,
                name,
                shard.shard_id if shard is not None else "",
                sorted((str(k), str(v)) for k, v in (shard.labels or {}).items()) if shard is not None else [],
                links.shard_url_of(shard) if shard is not None else "",
            )
        )
    return LinkedHere(rows[0][-1], out)


# --- one trace's waterfall ----------------------------------------------------------------------------------------

TRACE_SPAN_LIMIT = 100_000
# The span's traffic.origin, read in the waterfall's one query (a plain text comparison on both databases).
_ORIGIN = Cast(KeyTextTransform(SCHEDULER_ORIGIN[0], "attributes"), CharField())
# ...and its job.shard.id, which tells the rows of a repeated operation apart.
_SHARD = Cast(KeyTextTransform("job.shard.id", "attributes"), CharField())


def trace_waterfall(
    namespace_id: int,
    trace_id: str,
    expected_spans: int | None = None,
    *,
    updated_at: datetime | None = None,
    outline: bool = False,
) -> wf_mod.Waterfall:
    """The trace's waterfall (traces/waterfall.py) from one query of its spans' columns, at most TRACE_SPAN_LIMIT.

    With the summary's span count and `updated_at`, a big trace's waterfall is kept for a moment (traces/recent.py)
    and the next page or subtree of the same trace, unchanged, reuses it. `outline`: the cheaper pass a subtree
    fragment needs, when no kept waterfall serves (it is not kept)."""
    key = recent.key_of(namespace_id, trace_id, expected_spans, updated_at)
    kept = recent.get(key)
    if kept is not None:
        return kept
    qs = (
        Span.objects.filter(namespace_id=namespace_id, trace_id=trace_id)
        .order_by()
        .values_list(*wf_mod.SPAN_COLUMNS, _ORIGIN, _SHARD)[:TRACE_SPAN_LIMIT]
    )
    with wf_mod.paused_gc():
        rows = _tuples(qs)
        wf = wf_mod.build(
            rows,
            truncated_at=TRACE_SPAN_LIMIT if len(rows) >= TRACE_SPAN_LIMIT else None,
            expected_spans=expected_spans,
            outline=outline,
        )
    if not outline and (len(rows) == expected_spans or len(rows) >= TRACE_SPAN_LIMIT):
        recent.put(key, wf)  # only what the summary counts: not a trace whose spans are still arriving or expired
    return wf


def _tuples(qs: Any) -> list[tuple]:
    """A values_list query's rows as the database driver returns them, in one fetch: the queryset's own SQL, without
    Django's per-row iteration in chunks of 100 (a third of the fetch's CPU time for 100,000 spans). Only for
    columns that need no converter (text and integers)."""
    sql, params = qs.query.get_compiler(using=qs.db).as_sql()
    with connections[qs.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def shard_labels(namespace_id: int, trace_id: str, span_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """The business labels (e.g. {"account": "1000002"}) of these spans of the trace, by span id: the labels of the
    shard each is linked to, else its `job.shard.label.*` attributes (the SDK's convention). One query, for the few
    rows the page shows with a shard (traces/waterfall.py `tell_rows`); nothing when there are none."""
    wanted = list(span_ids)
    if not wanted:
        return {}
    out: dict[str, dict[str, str]] = {}
    for span_id, labels, attributes in Span.objects.filter(
        namespace_id=namespace_id, trace_id=trace_id, span_id__in=wanted
    ).values_list("span_id", "shard__labels", "attributes"):
        found = {str(k): str(v) for k, v in (labels or {}).items()} if isinstance(labels, dict) else {}
        if not found and isinstance(attributes, dict):
            found = {
                str(k)[len(SHARD_LABEL_PREFIX) :]: str(v)
                for k, v in attributes.items()
                if str(k).startswith(SHARD_LABEL_PREFIX) and len(str(k)) > len(SHARD_LABEL_PREFIX)
            }
        if found:
            out[span_id] = found
    return out


SHARD_LABEL_PREFIX = "job.shard.label."  # the SDK's attributes of a shard's business labels (jobtrace_sdk.conventions)
MAX_TEXT_MATCHES = 5_000  # spans whose attributes a find matches at most


def spans_with_text(namespace_id: int, trace_id: str, text: str) -> list[str]:
    """Span ids of the trace whose attributes hold `text` (any case): the find's attribute match. One query."""
    from django.db.models import TextField

    return list(
        Span.objects.filter(namespace_id=namespace_id, trace_id=trace_id)
        .annotate(_attributes=Cast("attributes", TextField()))
        .filter(_attributes__icontains=text)
        .values_list("span_id", flat=True)[:MAX_TEXT_MATCHES]
    )
