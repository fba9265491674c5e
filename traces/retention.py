"""Span and log retention: the telemetry writers' side of `manage.py prune` (jobs/retention/prune.py calls it).

- Log records (traces/logs/) follow the span retention the same way: their table is partitioned by day on
  `time_ns` like the spans' on `start_ns`.
- `ensure_partitions()`: today's span and log partitions and JOBTRACE_PARTITIONS_AHEAD_DAYS days after it (PostgreSQL;
  nothing elsewhere). `manage.py prune` calls it; so may the monitor loop, as often as it likes (a catalog read
  when nothing is missing).
- `prune_spans(first_kept)`: given, per namespace, the first UTC day whose spans are kept, removes the spans of the
  days before it. On a partitioned PostgreSQL table, every day before the earliest kept day of all namespaces is a
  whole partition detached and dropped (traces/partitions.py); a namespace that keeps fewer days than the longest
  has its older spans deleted in bounded batches. SQLite deletes in bounded batches. Each batch is its own
  statement, so ingest waits for at most one batch.
- The span-link index rows of removed spans go with them. Trace summaries stay (they are records, kept for the
  record retention): the trace page reads one without spans as "expired by the retention of N days".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef

from traces import partitions
from traces.logs.models import LogRecord
from traces.models import Span, SpanLink, Trace

BATCH = 5_000


def _today() -> date:
    return datetime.now(UTC).date()


def ensure_partitions(today: date | None = None) -> list[str]:
    """Create the span and log partitions of today and the days ahead that are missing; returns their names."""
    created = []
    for spec in partitions.TABLES:
        if partitions.is_partitioned(spec):
            ahead = settings.JOBTRACE_PARTITIONS_AHEAD_DAYS
            created += partitions.ensure_ahead(spec, today or _today(), ahead)
    return created


@dataclass
class SpanPrune:
    partitions_dropped: list[str] = field(default_factory=list)
    spans_deleted: int = 0  # deleted row by row (SQLite, or a namespace keeping fewer days than the longest)
    logs_deleted: int = 0  # likewise, log records (they follow the span retention)
    links_deleted: int = 0


def cutoff_ns(first_kept: date) -> int:
    return partitions.SPANS.bounds(first_kept)[0]


def prune_spans(first_kept: dict[int, date], *, batch: int = BATCH) -> SpanPrune:
    """Remove the spans of each namespace (id -> first kept day) that started before its first kept day."""
    result = SpanPrune()
    if not first_kept:
        return result
    for spec in partitions.TABLES:
        if partitions.is_partitioned(spec):
            result.partitions_dropped += partitions.expire_before(spec, min(first_kept.values()))
    for namespace_id, day in sorted(first_kept.items()):
        result.spans_deleted += _delete_batches(Span, "start_ns", namespace_id, cutoff_ns(day), batch)
        result.logs_deleted += _delete_batches(LogRecord, "time_ns", namespace_id, cutoff_ns(day), batch)
        result.links_deleted += _delete_links(namespace_id, cutoff_ns(day), batch)
    return result


def _delete_batches(model: Any, column: str, namespace_id: int, before_ns: int, batch: int) -> int:
    deleted = 0
    older = {"namespace_id": namespace_id, f"{column}__lt": before_ns}
    while True:
        ids = list(model.objects.filter(**older).order_by().values_list("id", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += model.objects.filter(id__in=ids, **older).delete()[0]


def _delete_links(namespace_id: int, before_ns: int, batch: int) -> int:
    """SpanLink rows of the traces that started before the cutoff, whose span is no longer stored."""
    expired = Trace.objects.filter(namespace_id=namespace_id, start_ns__lt=before_ns).values("trace_id")
    stored = Span.objects.filter(namespace_id=namespace_id, trace_id=OuterRef("trace_id"), span_id=OuterRef("span_id"))
    gone = (
        SpanLink.objects.filter(namespace_id=namespace_id, trace_id__in=expired)
        .alias(kept=Exists(stored))
        .filter(kept=False)
    )
    deleted = 0
    while True:
        ids = list(gone.order_by().values_list("id", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += SpanLink.objects.filter(id__in=ids).delete()[0]


def expired_by(trace: Trace, today: date | None = None) -> int | None:
    """The namespace's span retention in days when the trace started before its first kept day (its spans, or
    some of them, are gone by retention), else None."""
    days = trace.namespace.span_retention
    first_kept = (today or _today()) - timedelta(days=days)
    return days if trace.start_ns < cutoff_ns(first_kept) else None
