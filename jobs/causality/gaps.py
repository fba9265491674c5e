"""Propagation gaps (where context was lost on the way) and the propagation-health figure of a job.

Gap kinds (docs/causality.md):

- `envelope_incomplete` — an execution triggered by a message whose envelope carries no correlation id or no
  causation id (or an event-triggered execution with no envelope at all);
- `consumer_unlinked` — a consumer span that starts a new trace with no span link to its producer;
- `spans_lost` — a sampled execution (or its shard) with a trace id whose spans never arrived (`sampled=False`
  is "not sampled", not a gap; a run that finished moments ago is "spans pending", not yet a gap);
- `shard_trace_unlinked` — a shard with its own trace that has spans but nothing tying it to its execution (no
  span link to or from the execution's trace, no span naming the execution).

Everything is computed for a whole list of executions in a fixed number of queries (no N+1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from console import links
from jobs.causality.envelopes import SPAN_KIND_CONSUMER
from jobs.causality.models import Message
from jobs.choices import TERMINAL_STATUSES, Trigger
from jobs.models import Execution, Job, Shard

SPANS_GRACE = timedelta(minutes=2)  # spans may trail a run this long before they count as lost
HEALTH_WINDOW = 200  # the newest executions a job's health figure looks at

ENVELOPE_INCOMPLETE = "envelope_incomplete"
CONSUMER_UNLINKED = "consumer_unlinked"
SPANS_LOST = "spans_lost"
SHARD_TRACE_UNLINKED = "shard_trace_unlinked"
GAP_KINDS = {
    ENVELOPE_INCOMPLETE: "Trigger message without correlation/causation id",
    CONSUMER_UNLINKED: "Consumer span without a link to its producer",
    SPANS_LOST: "Sampled, but the spans never arrived",
    SHARD_TRACE_UNLINKED: "Shard trace not linked to its execution",
}
# Facts worth showing that are not gaps.
NOT_SAMPLED = "not_sampled"
SPANS_PENDING = "spans_pending"


@dataclass
class Gap:
    kind: str
    detail: str
    execution_pk: int
    shard_pk: int | None = None
    trace_id: str = ""
    span_id: str = ""
    url: str = ""

    @property
    def title(self) -> str:
        return GAP_KINDS.get(self.kind, self.kind)

    @property
    def trace_url(self) -> str:
        return links.trace_url(self.trace_id, self.span_id or None) if self.trace_id else ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "detail": self.detail,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "trace_url": self.trace_url,
            "url": self.url,
        }


@dataclass
class Findings:
    """Per execution pk: its gaps, and notes that are not gaps (not sampled, spans pending)."""

    gaps: dict[int, list[Gap]] = field(default_factory=dict)
    notes: dict[int, list[str]] = field(default_factory=dict)

    def of(self, execution: Execution, shard: Shard | None = None) -> list[Gap]:
        found = self.gaps.get(execution.pk, [])
        if shard is None:
            return found
        return [g for g in found if g.shard_pk is None or g.shard_pk == shard.pk]


def _url(e: Execution) -> str:
    return links.execution_url_of(e) if "job" in e._state.fields_cache else ""


def find_gaps(executions: Sequence[Execution], *, now: datetime | None = None) -> Findings:
    """At most seven queries, whatever the number of executions."""
    from traces.models import Span, SpanLink, Trace

    now = now or timezone.now()
    findings = Findings()
    executions = [e for e in executions if not e.placeholder]
    if not executions:
        return findings
    ns_ids = sorted({e.namespace_id for e in executions})
    by_pk = {e.pk: e for e in executions}

    def add(gap: Gap) -> None:
        findings.gaps.setdefault(gap.execution_pk, []).append(gap)

    # 1. Consumer spans of these executions (by the linking FK or by the execution's trace).
    exec_traces = {e.trace_id: e for e in executions if e.trace_id}
    consumer_spans = list(
        Span.objects.filter(namespace_id__in=ns_ids, kind=SPAN_KIND_CONSUMER)
        .filter(Q(execution_id__in=list(by_pk)) | Q(trace_id__in=sorted(exec_traces)))
        .values("namespace_id", "trace_id", "span_id", "parent_span_id", "links", "message_id", "execution_id")
        .order_by("start_ns")[:2000]
    )
    # 2. Message rows of the trigger messages and of the consumer spans' messages.
    wanted = {e.message_id for e in executions if e.message_id} | {s["message_id"] for s in consumer_spans}
    wanted.discard("")
    messages = {
        (m["namespace_id"], m["message_id"]): m
        for m in Message.objects.filter(namespace_id__in=ns_ids, message_id__in=sorted(wanted)).values(
            "namespace_id", "message_id", "correlation_id", "causation_id", "trace_id"
        )
    }

    for e in executions:
        if e.message_id:
            row = messages.get((e.namespace_id, e.message_id), {})
            missing = [
                name for name in ("correlation_id", "causation_id") if not (getattr(e, name) or row.get(name, ""))
            ]
            if missing:
                add(
                    Gap(
                        ENVELOPE_INCOMPLETE,
                        f"trigger message {e.message_id} carries no {' and no '.join(n[:-3] + ' id' for n in missing)}",
                        e.pk,
                        url=_url(e),
                    )
                )
        elif e.trigger == Trigger.EVENT and not any(
            s["message_id"] and (s["execution_id"] == e.pk or s["trace_id"] == e.trace_id) for s in consumer_spans
        ):
            add(Gap(ENVELOPE_INCOMPLETE, "event-triggered, but no message envelope arrived", e.pk, url=_url(e)))

    for s in consumer_spans:
        owner = by_pk.get(s["execution_id"]) or exec_traces.get(s["trace_id"])
        if owner is None or s["links"]:
            continue
        producer_trace = ""
        if s["message_id"]:
            producer_trace = messages.get((s["namespace_id"], s["message_id"]), {}).get("trace_id", "")
            if not producer_trace and s["message_id"] == owner.message_id:
                producer_trace = owner.envelope_trace_id
        if producer_trace and producer_trace == s["trace_id"]:
            continue  # the consumer continued the producer's trace: context propagated, no link needed
        if not producer_trace and s["parent_span_id"]:
            continue  # a child in a trace we cannot judge
        add(
            Gap(
                CONSUMER_UNLINKED,
                f"consumer span of message {s['message_id'] or '(unnamed)'} starts a new trace with no link "
                "to its producer",
                owner.pk,
                trace_id=s["trace_id"],
                span_id=s["span_id"],
                url=_url(owner),
            )
        )

    # 3. Shards with a trace of their own.
    shards = list(
        Shard.objects.filter(execution_id__in=list(by_pk))
        .exclude(trace_id="")
        .only("id", "execution_id", "shard_id", "trace_id", "span_id", "namespace_id")
    )
    shard_traces = {s.trace_id for s in shards if s.trace_id != by_pk[s.execution_id].trace_id}
    # 4 + 5. Which traces have arrived: the summaries first, then spans for the ones without a summary.
    sampled_traces = {e.trace_id for e in executions if e.sampled and e.trace_id}
    candidates = sorted(sampled_traces | shard_traces)
    arrived: set[str] = set()
    if candidates:
        arrived = set(
            Trace.objects.filter(namespace_id__in=ns_ids, trace_id__in=candidates).values_list("trace_id", flat=True)
        )
        rest = sorted(set(candidates) - arrived)
        if rest:
            arrived |= set(
                Span.objects.filter(namespace_id__in=ns_ids, trace_id__in=rest)
                .order_by()
                .values_list("trace_id", flat=True)
                .distinct()
            )
    for e in executions:
        if e.sampled is False:
            findings.notes.setdefault(e.pk, []).append("not sampled: no spans were recorded for this run")
            continue
        if not (e.sampled and e.trace_id) or e.trace_id in arrived:
            continue
        settled = e.finished_at or e.started_at
        if e.status not in TERMINAL_STATUSES or settled is None or now - settled < SPANS_GRACE:
            findings.notes.setdefault(e.pk, []).append("spans pending: the run is recent, spans may still arrive")
            continue
        add(
            Gap(
                SPANS_LOST,
                f"sampled with trace {e.trace_id}, but its spans never arrived",
                e.pk,
                trace_id=e.trace_id,
                url=_url(e),
            )
        )

    # 6 + 7. Shard traces: spans naming the execution, and span links between a shard trace and its execution's.
    if shard_traces:
        naming = set(
            Span.objects.filter(namespace_id__in=ns_ids, trace_id__in=sorted(shard_traces))
            .exclude(job_execution_id="")
            .order_by()
            .values_list("trace_id", "job_execution_id")
            .distinct()
        )
        targets = sorted({by_pk[s.execution_id].trace_id for s in shards} - {""})
        linked: set[tuple[str, str]] = set()
        if targets:
            for a, b in (
                SpanLink.objects.filter(namespace_id__in=ns_ids)
                .filter(
                    Q(trace_id__in=sorted(shard_traces), linked_trace_id__in=targets)
                    | Q(trace_id__in=targets, linked_trace_id__in=sorted(shard_traces))
                )
                .values_list("trace_id", "linked_trace_id")
            ):
                linked |= {(a, b), (b, a)}
        for s in shards:
            e = by_pk[s.execution_id]
            if s.trace_id == e.trace_id:
                continue
            if s.trace_id not in arrived:
                if e.sampled and e.status in TERMINAL_STATUSES:
                    settled = e.finished_at or e.started_at
                    if settled is not None and now - settled >= SPANS_GRACE:
                        add(
                            Gap(
                                SPANS_LOST,
                                f"shard {s.shard_id}: trace {s.trace_id} never arrived",
                                e.pk,
                                shard_pk=s.pk,
                                trace_id=s.trace_id,
                                url=_url(e),
                            )
                        )
                continue
            if (s.trace_id, e.execution_id) in naming or (s.trace_id, e.trace_id) in linked:
                continue
            add(
                Gap(
                    SHARD_TRACE_UNLINKED,
                    f"shard {s.shard_id}: trace {s.trace_id} has no link to the execution's trace and no span "
                    "naming the execution",
                    e.pk,
                    shard_pk=s.pk,
                    trace_id=s.trace_id,
                    span_id=s.span_id,
                    url=_url(e),
                )
            )
    return findings


@dataclass
class Health:
    """Share of a job's newest executions whose context is complete (no propagation gap)."""

    total: int
    complete: int
    by_kind: dict[str, int]
    window: int = HEALTH_WINDOW

    @property
    def share(self) -> float | None:
        return self.complete / self.total if self.total else None

    @property
    def percent(self) -> int | None:
        return None if self.share is None else round(self.share * 100)

    @property
    def rows(self) -> list[tuple[str, str, int]]:
        return [(kind, GAP_KINDS[kind], self.by_kind.get(kind, 0)) for kind in GAP_KINDS]

    def as_dict(self) -> dict[str, Any]:
        return {
            "executions": self.total,
            "complete": self.complete,
            "health": None if self.share is None else round(self.share, 4),
            "window": self.window,
            "gaps": {kind: self.by_kind.get(kind, 0) for kind in GAP_KINDS},
        }


def propagation_health(job: Job, *, window: int = HEALTH_WINDOW, now: datetime | None = None) -> Health:
    """One query for the executions plus `find_gaps`' fixed handful."""
    executions = list(
        Execution.objects.filter(namespace_id=job.namespace_id, job=job, placeholder=False)
        .select_related("job__namespace")
        .order_by("-started_at", "-id")[:window]
    )
    findings = find_gaps(executions, now=now)
    by_kind: dict[str, int] = {}
    for gaps in findings.gaps.values():
        for kind in {g.kind for g in gaps}:
            by_kind[kind] = by_kind.get(kind, 0) + 1
    incomplete = sum(1 for e in executions if findings.gaps.get(e.pk))
    return Health(total=len(executions), complete=len(executions) - incomplete, by_kind=by_kind, window=window)
