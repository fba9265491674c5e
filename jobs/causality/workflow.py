"""One workflow (a correlation id in one namespace) as a cause -> effect timeline: the correlation page's model.

Every message, execution, shard and ingress trace of the workflow becomes a row; each row hangs under its cause,
carries the delay since its cause, the time a message spent in its queue (long waits flagged), and what is broken
about it (a cause that cannot be found, a causation cycle, the execution's propagation gaps). A fixed number of
queries whatever the size of the workflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from django.db.models import Q

from jobs.causality.chains import Hop, execution_hop, human_duration, iso, message_hop, shard_hop
from jobs.causality.envelopes import Envelope, ns_to_datetime, span_values
from jobs.causality.gaps import Gap, find_gaps
from jobs.causality.models import Message
from jobs.models import Execution, Namespace, Shard

MAX_ROWS = 500


@dataclass
class Row(Hop):
    """A hop of the workflow with its place on the timeline: its propagation gaps, and its bar (0..1000, set by
    `Workflow.layout`)."""

    gaps: list[Gap] = field(default_factory=list)
    x: float = 0.0
    width: float = 0.0
    wait_x: float = 0.0
    wait_width: float = 0.0

    @classmethod
    def of(cls, hop: Hop, **values: Any) -> Row:
        """The hop as a row, `values` replacing some of its fields (its notes are copied, not shared)."""
        return cls(**{f.name: getattr(hop, f.name) for f in fields(Hop)} | {"notes": list(hop.notes)} | values)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.key,
            "label": self.label,
            "start": iso(self.start),
            "end": iso(self.end),
            "service": self.service,
            "trace_url": self.trace_url,
            "url": self.url,
            "depth": self.depth,
            "delay_seconds": self.delay.total_seconds() if self.delay is not None else None,
            "wait_seconds": self.wait.total_seconds() if self.wait is not None else None,
            "long_wait": self.long_wait,
            "broken": self.broken,
            "notes": self.notes,
            "gaps": [g.as_dict() for g in self.gaps],
        }


@dataclass
class Workflow:
    namespace: Namespace
    correlation_id: str
    rows: list[Row] = field(default_factory=list)
    truncated: bool = False
    cycle: bool = False
    start: datetime | None = None
    end: datetime | None = None

    @property
    def empty(self) -> bool:
        return not self.rows

    @property
    def broken_count(self) -> int:
        return sum(1 for r in self.rows if r.broken or r.gaps)

    @property
    def long_waits(self) -> list[Row]:
        return [r for r in self.rows if r.long_wait]

    @property
    def span_text(self) -> str:
        return human_duration(self.end - self.start) if self.start and self.end else ""

    def layout(self) -> None:
        times = [t for r in self.rows for t in (r.start, r.end) if t is not None]
        if not times:
            return
        self.start, self.end = min(times), max(times)
        total = max((self.end - self.start).total_seconds(), 0.001)

        def x(t: datetime) -> float:
            return round((t - self.start).total_seconds() / total * 1000, 2)  # type: ignore[operator]

        for r in self.rows:
            if r.start is None:
                continue
            r.x = x(r.start)
            r.width = max(round(x(r.end) - r.x, 2), 3.0) if r.end else 3.0
            if r.kind == "message" and r.wait is not None:
                r.wait_x, r.wait_width = r.x, max(round(r.wait.total_seconds() / total * 1000, 2), 3.0)


def workflow(namespace: Namespace, correlation_id: str) -> Workflow:
    """Everything of one correlation id inside one namespace (never another namespace's records)."""
    from traces.models import Trace

    wf = Workflow(namespace=namespace, correlation_id=correlation_id)
    ns_id = namespace.pk
    envelopes: dict[str, Envelope] = {}
    for m in Message.objects.filter(namespace_id=ns_id, correlation_id=correlation_id)[:MAX_ROWS]:
        envelopes.setdefault(m.message_id, Envelope(m.message_id)).absorb_message(m)
    message_ids = sorted(envelopes)
    spans = list(
        span_values(ns_id)
        .exclude(message_id="")
        .filter(Q(correlation_id=correlation_id) | Q(message_id__in=message_ids))[: MAX_ROWS * 4]
    )
    for s in spans:
        envelopes.setdefault(s["message_id"], Envelope(s["message_id"])).absorb_span(s)
    executions = list(
        Execution.objects.filter(namespace_id=ns_id, placeholder=False)
        .filter(Q(correlation_id=correlation_id) | Q(message_id__in=sorted(envelopes)))
        .select_related("job__namespace")
        .order_by("started_at", "id")[:MAX_ROWS]
    )
    for e in executions:
        if e.message_id:
            envelopes.setdefault(e.message_id, Envelope(e.message_id)).absorb_execution(e)
    if not envelopes and not executions:
        return wf
    shards = list(
        Shard.objects.filter(namespace_id=ns_id, execution_id__in=[e.pk for e in executions]).order_by(
            "index", "shard_id"
        )[:MAX_ROWS]
    )
    exec_by_pk = {e.pk: e for e in executions}
    exec_by_id = {e.execution_id: e for e in executions}
    exec_by_trace = {e.trace_id: e for e in executions if e.trace_id}
    request_traces = {env.trace_id for env in envelopes.values() if env.trace_id and env.trace_id not in exec_by_trace}
    summaries = {
        t.trace_id: t
        for t in Trace.objects.filter(namespace_id=ns_id, trace_id__in=sorted(request_traces)).only(
            "trace_id", "root_service", "root_name", "start_ns", "duration_ns", "root_span_id"
        )
    }
    findings = find_gaps(executions)

    rows: dict[str, Row] = {}
    for trace_id in sorted(request_traces):
        t = summaries.get(trace_id)
        requested_by = sorted({env.causation_id for env in envelopes.values() if env.trace_id == trace_id} - {""})
        requested_by = [r for r in requested_by if r not in envelopes and r not in exec_by_id]
        label = "request " + ", ".join(requested_by) if requested_by else "producer's trace"
        row = Row(
            node=f"t:{trace_id}",
            kind="request",
            label=f"{label}: {t.root_service} {t.root_name}" if t else label,
            key=trace_id,
            start=ns_to_datetime(t.start_ns) if t else None,
            end=ns_to_datetime(t.start_ns + t.duration_ns) if t else None,
            service=t.root_service if t else "",
            trace_id=trace_id,
        )
        if t is None:
            row.notes.append("the request's spans have not arrived")
        rows[row.node] = row

    for env in envelopes.values():
        hop = message_hop(env)
        row = Row.of(
            hop,
            url=hop.trace_url,  # on its own workflow's page, a message leads to the span that published it
            node=f"m:{env.message_id}",
            end=env.consumed_at
            or min((c.started_at for c in env.consumers if c.started_at), default=None)
            or hop.start,
            service=" → ".join(s for s in (env.producer_service, env.consumer_service) if s),
        )
        cause = env.causation_id
        if cause and cause in envelopes:
            row.parent = f"m:{cause}"
        elif cause and cause in exec_by_id:
            row.parent = f"e:{exec_by_id[cause].pk}"
        elif env.trace_id in exec_by_trace and exec_by_trace[env.trace_id].message_id != env.message_id:
            row.parent = f"e:{exec_by_trace[env.trace_id].pk}"
        elif env.trace_id:
            row.parent = f"t:{env.trace_id}"
        if not row.parent:
            row.broken = True
            row.notes.append(
                f"cause {cause} not found in this workflow" if cause else "no causation id and no producer trace"
            )
        if env.correlation_id and env.correlation_id != correlation_id:
            row.notes.append(f"correlation id changed to {env.correlation_id}")
        rows[row.node] = row

    for e in executions:
        row = Row.of(execution_hop(e), node=f"e:{e.pk}", gaps=findings.of(e), notes=list(findings.notes.get(e.pk, [])))
        if e.message_id:
            row.parent = f"m:{e.message_id}"
        elif e.causation_id and e.causation_id in envelopes:
            row.parent = f"m:{e.causation_id}"
        if e.correlation_id and e.correlation_id != correlation_id:
            row.notes.append(f"correlation id changed to {e.correlation_id}")
        rows[row.node] = row

    for s in shards:
        e = exec_by_pk[s.execution_id]
        rows[f"s:{s.pk}"] = Row.of(
            shard_hop(s, e),
            node=f"s:{s.pk}",
            parent=f"e:{e.pk}",
            gaps=[g for g in findings.of(e, s) if g.shard_pk == s.pk],
        )

    for row in rows.values():
        parent = rows.get(row.parent)
        if parent is not None and parent.start and row.start:
            row.delay = row.start - parent.start
    wf.rows, wf.cycle = _tree(rows)
    wf.truncated = len(wf.rows) >= MAX_ROWS
    wf.layout()
    return wf


def _tree(rows: dict[str, Row]) -> tuple[list[Row], bool]:
    """Depth-first from the roots, children by time; nodes only reachable through a cycle are flagged."""
    children: dict[str, list[Row]] = {}
    for row in rows.values():
        if row.parent in rows:
            children.setdefault(row.parent, []).append(row)
    order: list[Row] = []
    placed: set[str] = set()

    def when(r: Row) -> tuple[int, float, str]:
        return (0, r.start.timestamp(), r.node) if r.start else (1, 0.0, r.node)

    def place(row: Row, depth: int) -> None:
        stack = [(row, depth)]
        while stack:
            current, d = stack.pop()
            if current.node in placed:
                continue
            placed.add(current.node)
            current.depth = d
            order.append(current)
            for child in sorted(children.get(current.node, []), key=when, reverse=True):
                stack.append((child, d + 1))

    for root in sorted((r for r in rows.values() if r.parent not in rows), key=when):
        place(root, 1)
    cycle = False
    for row in sorted(rows.values(), key=when):
        if row.node not in placed:
            cycle = True
            row.broken = True
            row.notes.append("causation cycle: this message is, further up, its own cause")
            place(row, 1)
    return order, cycle


def namespaces_with(correlation_id: str, namespace_ids: Any) -> list[Namespace]:
    """The readable namespaces in which the correlation id names anything (three small queries)."""
    from traces.models import Span

    ids = sorted(namespace_ids)
    if not ids or not correlation_id or "\x00" in correlation_id:
        return []
    found: set[int] = set()
    for model in (Message, Execution, Span):
        found |= set(
            model.objects.filter(namespace_id__in=ids, correlation_id=correlation_id)
            .order_by()
            .values_list("namespace_id", flat=True)
            .distinct()
        )
    return list(Namespace.objects.filter(id__in=sorted(found)).order_by("name")) if found else []
