"""One message as every source tells it, merged: the `Envelope`, and `load_level`, which fetches one hop-level of a
walk in bulk.

A message id is known from three sources, all inside ONE namespace (another namespace's records never join, even
with the same ids):

- `Message` rows (POST /api/v1/messages, or `jobs.causality.store.record_envelopes` from executions and spans);
- executions' trigger envelopes (`Execution.message_id`, `correlation_id`, `causation_id`, `envelope_trace_id`);
- spans' messaging columns (`Span.message_id`, `correlation_id`, `causation_id`) and span links.

For one message id they are merged: the Message row's values come first, and each later source only fills blanks
(`Envelope.fill`). jobs/causality/chains.py walks the merged envelopes; jobs/causality/workflow.py lays one
workflow out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q

from jobs.causality.models import Message
from jobs.models import Execution

LEVEL_LIMIT = 1000  # rows one query of one level may bring back (a poison message seen on 10k spans stays cheap)
SPAN_KIND_PRODUCER = 4
SPAN_KIND_CONSUMER = 5
SPAN_KIND_CLIENT = 3

_SPAN_FIELDS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "service",
    "name",
    "kind",
    "start_ns",
    "duration_ns",
    "message_id",
    "correlation_id",
    "causation_id",
    "links",
    "execution_id",
)


def ns_to_datetime(value: int | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromtimestamp(value / 1_000_000_000, tz=UTC)


@dataclass
class Envelope:
    """Everything known about one message id in one namespace, merged from its three sources."""

    message_id: str
    correlation_id: str = ""
    causation_id: str = ""
    trace_id: str = ""  # the producer's trace
    span_id: str = ""
    tenant_id: str = ""
    event_type: str = ""
    published_at: datetime | None = None
    consumed_at: datetime | None = None
    producer_service: str = ""
    consumer_service: str = ""
    sources: set[str] = field(default_factory=set)
    consumers: list[Execution] = field(default_factory=list)
    consumer_spans: list[dict[str, Any]] = field(default_factory=list)

    def fill(self, **values: Any) -> None:
        for name, value in values.items():
            if value not in ("", None) and getattr(self, name) in ("", None):
                setattr(self, name, value)

    def absorb_message(self, m: Message) -> None:
        self.sources.add("message")
        self.fill(
            correlation_id=m.correlation_id,
            causation_id=m.causation_id,
            trace_id=m.trace_id,
            span_id=m.span_id,
            tenant_id=m.tenant_id,
            event_type=m.event_type,
            published_at=m.published_at,
            consumed_at=m.consumed_at,
            producer_service=m.producer_service,
            consumer_service=m.consumer_service,
        )

    def absorb_execution(self, e: Execution) -> None:
        self.sources.add("execution")
        if all(c.pk != e.pk for c in self.consumers):
            self.consumers.append(e)
        self.fill(
            correlation_id=e.correlation_id,
            causation_id=e.causation_id,
            trace_id=e.envelope_trace_id,
            tenant_id=e.tenant_id,
            event_type=e.event_type,
            consumer_service=e.job.name if _loaded(e, "job") else "",
        )

    def absorb_span(self, s: dict[str, Any]) -> None:
        self.sources.add("span")
        at = ns_to_datetime(s["start_ns"])
        self.fill(correlation_id=s["correlation_id"], causation_id=s["causation_id"])
        if s["kind"] in (SPAN_KIND_PRODUCER, SPAN_KIND_CLIENT):
            self.fill(trace_id=s["trace_id"], span_id=s["span_id"], published_at=at, producer_service=s["service"])
        elif s["kind"] == SPAN_KIND_CONSUMER:
            self.consumer_spans.append(s)
            self.fill(consumed_at=at, consumer_service=s["service"])

    @property
    def queue_wait(self) -> timedelta | None:
        picked = self.consumed_at or min(
            (c.started_at for c in self.consumers if c.started_at is not None), default=None
        )
        if self.published_at is None or picked is None:
            return None
        return max(picked - self.published_at, timedelta(0))


def _loaded(obj: Any, name: str) -> bool:
    return name in getattr(obj, "_state").fields_cache  # noqa: B009


def execution_rows() -> Any:
    return Execution.objects.select_related("job__namespace")


@dataclass
class Level:
    """One hop-level fetched in bulk: envelopes by message id, executions by their execution id and trace id."""

    envelopes: dict[str, Envelope]
    executions_by_id: dict[str, Execution]
    executions_by_trace: dict[str, list[Execution]]


def load_level(namespace_id: int, ids: Iterable[str], trace_ids: Iterable[str] = ()) -> Level:
    """Three queries: the Message rows, the spans and the executions that name any of `ids` (or `trace_ids`)."""
    ids = sorted({i for i in ids if i})
    traces = sorted({t for t in trace_ids if t})
    envelopes: dict[str, Envelope] = {}
    by_id: dict[str, Execution] = {}
    by_trace: dict[str, list[Execution]] = {}
    if not ids and not traces:
        return Level(envelopes, by_id, by_trace)
    if ids:
        for m in Message.objects.filter(namespace_id=namespace_id, message_id__in=ids):
            envelopes.setdefault(m.message_id, Envelope(m.message_id)).absorb_message(m)
        spans = span_values(namespace_id).filter(message_id__in=ids)[:LEVEL_LIMIT]
        for s in spans:
            envelopes.setdefault(s["message_id"], Envelope(s["message_id"])).absorb_span(s)
    condition = Q(message_id__in=ids) | Q(execution_id__in=ids) if ids else Q(pk__in=[])
    if traces:
        condition |= Q(trace_id__in=traces)
    for e in (
        execution_rows().filter(namespace_id=namespace_id).filter(condition).order_by("started_at", "id")[:LEVEL_LIMIT]
    ):
        if e.message_id in ids:
            envelopes.setdefault(e.message_id, Envelope(e.message_id)).absorb_execution(e)
        if e.execution_id in ids:
            by_id.setdefault(e.execution_id, e)
        if e.trace_id in traces:
            by_trace.setdefault(e.trace_id, []).append(e)
    return Level(envelopes, by_id, by_trace)


def span_values(namespace_id: int) -> Any:
    from traces.models import Span

    return Span.objects.filter(namespace_id=namespace_id).order_by("start_ns").values(*_SPAN_FIELDS)
