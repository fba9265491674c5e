"""`manage.py prune`: each namespace's retention applied now, in bounded batches (never one big statement).

- Spans (and their span-link rows) that started before the namespace's first kept day: traces.retention (whole
  daily partitions dropped on PostgreSQL). The partitions of today and the days ahead are created first.
- Records whose last change is older than the record retention: executions (with their shards and alert links;
  an execution with a shard changed since is kept), messages, alerts, and trace summaries of traces that started
  before it. What points at a removed execution (a trace summary, a span) is unlinked by the foreign keys' SET_NULL,
  so summaries and links only ever name what is left.

Days are whole UTC days: with a retention of 7 days, on 2026-12-09 the spans of 2026-12-02 and later are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from jobs.models import Alert, Execution, Message, Namespace, Shard
from traces import retention as span_retention
from traces.models import Trace

BATCH = 1_000


@dataclass
class PruneResult:
    partitions_created: list[str] = field(default_factory=list)
    spans: span_retention.SpanPrune = field(default_factory=span_retention.SpanPrune)
    deleted: dict[str, int] = field(default_factory=dict)  # model label -> rows (cascades included)

    def lines(self) -> list[str]:
        out = [f"span and log partitions created: {', '.join(self.partitions_created) or 'none'}"]
        out.append(f"span and log partitions dropped: {', '.join(self.spans.partitions_dropped) or 'none'}")
        out.append(f"spans deleted in batches: {self.spans.spans_deleted}")
        out.append(f"log records deleted in batches: {self.spans.logs_deleted}")
        out.append(f"span links deleted: {self.spans.links_deleted}")
        out += [f"{label}: {count}" for label, count in sorted(self.deleted.items())]
        return out


def first_kept_day(today: date, days: int) -> date:
    return today - timedelta(days=days)


def run(today: date | None = None, *, batch: int = BATCH) -> PruneResult:
    today = today or datetime.now(UTC).date()
    namespaces = list(Namespace.objects.order_by("id"))
    result = PruneResult()
    result.partitions_created = span_retention.ensure_partitions(today)
    result.spans = span_retention.prune_spans({ns.pk: first_kept_day(today, ns.span_retention) for ns in namespaces})
    for ns in namespaces:
        day = first_kept_day(today, ns.record_retention)
        before = datetime(day.year, day.month, day.day, tzinfo=UTC)
        recent_shard = Shard.objects.filter(execution=OuterRef("pk"), updated_at__gte=before)
        _delete(
            result,
            Execution.objects.filter(namespace=ns, updated_at__lt=before)
            .alias(busy=Exists(recent_shard))
            .filter(busy=False),
            batch,
        )
        _delete(result, Message.objects.filter(namespace=ns, updated_at__lt=before), batch)
        _delete(result, Alert.objects.filter(namespace=ns, updated_at__lt=before), batch)
        _delete(result, Trace.objects.filter(namespace=ns, start_ns__lt=span_retention.cutoff_ns(day)), batch)
    return result


def _delete(result: PruneResult, queryset: QuerySet[Any], batch: int) -> None:
    model = queryset.model
    while True:
        ids = list(queryset.order_by().values_list("pk", flat=True)[:batch])
        if not ids:
            return
        _, counts = model._default_manager.filter(pk__in=ids).delete()
        for label, count in counts.items():
            result.deleted[label] = result.deleted.get(label, 0) + count
