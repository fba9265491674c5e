"""Walking "caused by" / "caused" chains of asynchronous causality from an execution or a shard.

Chains are derived at read time from the merged envelopes of jobs/causality/envelopes.py, inside one namespace.
Identity (DESIGN.md): a message's `causation_id` is the `message_id` (or request id, or execution id) of its direct
cause; `correlation_id` is shared by the whole workflow; a message's `trace_id` is its producer's trace. Walks are
bounded (MAX_DEPTH hops, MAX_NODES nodes) and fetch one hop-level at a time in bulk (three queries per level), so
their query count depends on the depth of the chain, never on how many messages a level holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q

from console import links
from jobs.causality.envelopes import (
    LEVEL_LIMIT,
    SPAN_KIND_CONSUMER,
    SPAN_KIND_PRODUCER,
    Envelope,
    execution_rows,
    load_level,
    ns_to_datetime,
    span_values,
)
from jobs.causality.models import Message
from jobs.models import Execution, Shard

MAX_DEPTH = 12  # hops walked up or levels walked down
MAX_NODES = 200  # nodes listed by one forward walk
LONG_WAIT = timedelta(minutes=5)  # a message that waited this long between publish and pick-up is highlighted


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass
class Hop:
    """One step of a causal chain (a message, an execution, a shard, a request...): its time span, where it ran,
    its trace, what is wrong with it. The chains list hops; the correlation page lays them out as rows
    (jobs/causality/workflow.py `Row`, a hop with its place on the timeline)."""

    kind: str  # execution | shard | message | request | span | cycle | missing
    key: str  # the id the hop is known by (message id, execution id, request id, trace id)
    label: str
    start: datetime | None = None  # a message: published (else picked up); a run: started (else scheduled)
    end: datetime | None = None
    service: str = ""
    trace_id: str = ""
    span_id: str = ""
    url: str = ""  # the console page of the hop (execution, shard), when it has one
    wait: timedelta | None = None  # a message: publish -> pick-up (its time in the queue)
    delay: timedelta | None = None  # from the cause's time to this hop's time
    notes: list[str] = field(default_factory=list)
    broken: bool = False
    depth: int = 0
    node: str = ""  # "m:<message id>" / "e:<pk>": identity inside one walk
    parent: str = ""  # the node of the cause, in a forward walk

    @property
    def trace_url(self) -> str:
        return links.trace_url(self.trace_id, self.span_id or None) if self.trace_id else ""

    @property
    def long_wait(self) -> bool:
        return self.wait is not None and self.wait >= LONG_WAIT

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.key,
            "label": self.label,
            "at": iso(self.start),
            "end": iso(self.end),
            "service": self.service,
            "trace_id": self.trace_id,
            "trace_url": self.trace_url,
            "url": self.url,
            "wait_seconds": self.wait.total_seconds() if self.wait is not None else None,
            "long_wait": self.long_wait,
            "depth": self.depth,
            "parent": self.parent,
            "broken": self.broken,
            "notes": list(self.notes),
        }


@dataclass
class Chain:
    hops: list[Hop] = field(default_factory=list)
    cycle: bool = False
    truncated: bool = False
    note: str = ""  # why the chain is empty or stops

    def close_cycle(self, key: str, label: str, **where: Any) -> None:
        """The causes loop: mark the chain and end it (or the branch) with a broken `cycle` hop."""
        self.cycle = True
        self.hops.append(Hop(kind="cycle", key=key, label=label, broken=True, **where))

    def as_dict(self) -> dict[str, Any]:
        return {
            "hops": [h.as_dict() for h in self.hops],
            "cycle": self.cycle,
            "truncated": self.truncated,
            "note": self.note,
        }


def execution_hop(e: Execution, depth: int = 0) -> Hop:
    return Hop(
        kind="execution",
        key=e.execution_id,
        label=f"{e.job.name} #{e.execution_id} ({e.status})",
        start=e.started_at or e.scheduled_at,
        end=e.finished_at,
        service=e.worker or e.job.name,
        trace_id=e.trace_id,
        url=links.execution_url_of(e),
        depth=depth,
    )


def shard_hop(s: Shard, e: Execution, depth: int = 0) -> Hop:
    job = e.job
    return Hop(
        kind="shard",
        key=s.shard_id,
        label=f"shard {s.shard_id} ({s.status})",
        start=s.started_at,
        end=s.finished_at,
        service=s.worker,
        trace_id=s.trace_id,
        span_id=s.span_id,
        url=links.shard_url(job.namespace.name, job.name, e.execution_id, s.shard_id),
        depth=depth,
    )


def message_hop(env: Envelope, depth: int = 0) -> Hop:
    hop = Hop(
        kind="message",
        key=env.message_id,
        label=f"{env.event_type or 'message'} {env.message_id}",
        start=env.published_at or env.consumed_at,
        end=env.consumed_at,
        service=env.producer_service,
        trace_id=env.trace_id,
        span_id=env.span_id,
        url=links.message_url(env.message_id, env.correlation_id),  # its workflow (else the lookup of its id)
        wait=env.queue_wait,
        depth=depth,
    )
    if env.published_at is None:
        hop.notes.append("publish time unknown")
    if not env.correlation_id:
        hop.notes.append("no correlation id")
    if not env.causation_id:
        hop.notes.append("no causation id")
    return hop


def human_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s" if seconds % 60 else f"{seconds // 60} min"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min"


def _trigger_from_spans(e: Execution) -> tuple[str, dict[str, Any] | None]:
    """An execution that carries no envelope: its consumer span's message id, or a consumer span with a link."""
    condition = Q(execution_id=e.pk)
    if e.trace_id:
        condition |= Q(trace_id=e.trace_id)
    spans = list(span_values(e.namespace_id).filter(condition, kind=SPAN_KIND_CONSUMER)[:20])
    for s in spans:
        if s["message_id"]:
            return s["message_id"], s
    for s in spans:
        if s["links"]:
            return "", s
    return "", None


def caused_by(obj: Execution | Shard, *, max_depth: int = MAX_DEPTH) -> Chain:
    """The chain upward: trigger message -> its cause -> ... -> the ingress request's trace.

    Each hop carries its time, service and trace link; a message hop carries its queue wait. A causation cycle
    stops the walk with a `cycle` hop; a chain longer than `max_depth` ends `truncated`.
    """
    chain = Chain()
    if isinstance(obj, Shard):
        execution = obj.execution
        chain.hops.append(execution_hop(execution))
    else:
        execution = obj
    ns_id = execution.namespace_id
    trigger_id = execution.message_id
    linked_span: dict[str, Any] | None = None
    if not trigger_id:
        trigger_id, linked_span = _trigger_from_spans(execution)
    if not trigger_id and linked_span is None:
        chain.note = (
            "Triggered by an event, but no message envelope arrived with it."
            if execution.trigger == "event"
            else f"Not caused by a message ({execution.get_trigger_display().lower()} run)."
        )
        return chain
    if not trigger_id and linked_span is not None:
        link = linked_span["links"][0]
        chain.hops.append(
            Hop(
                kind="span",
                key=link.get("span_id", ""),
                label="linked producer span (no message id on the consumer span)",
                trace_id=link.get("trace_id", ""),
                span_id=link.get("span_id", ""),
                notes=["the consumer span links to its producer but names no message"],
            )
        )
        _fill_traces(ns_id, chain.hops)
        return chain

    seen_messages: set[str] = set()
    seen_executions: set[int] = {execution.pk}
    effect_at = execution.started_at or execution.scheduled_at
    current = trigger_id
    prev_trace = ""
    prev_span = ""  # the producer span of the last message, when its envelope names one
    depth = 0
    while True:
        if depth >= max_depth:
            chain.truncated = True
            break
        depth += 1
        level = load_level(ns_id, [current], [prev_trace] if prev_trace else [])
        env = level.envelopes.get(current)
        if env is not None:
            seen_messages.add(current)
            hop = message_hop(env, depth)
            hop.delay = (effect_at - hop.start) if effect_at and hop.start else None
            chain.hops.append(hop)
            effect_at = hop.start or effect_at
            nxt = env.causation_id
            prev_trace, prev_span = env.trace_id, env.span_id
            if not nxt:
                # The envelope names no cause: the producer's trace is as far back as we can see.
                if env.trace_id:
                    current = ""
                    continue
                chain.hops.append(
                    Hop(
                        kind="missing",
                        key="",
                        label="cause unknown: no causation id and no producer trace",
                        broken=True,
                        depth=depth + 1,
                    )
                )
                break
            if nxt in seen_messages:
                chain.close_cycle(nxt, f"cycle: {nxt} is already in this chain")
                break
            current = nxt
            continue
        publisher = level.executions_by_id.get(current) if current else None
        producer_known, producer = (
            _producer_span_owner(ns_id, prev_trace, prev_span) if publisher is None else (0, None)
        )
        if producer_known:
            # The envelope names the span that published it: its owner published it, or, when no execution owns
            # that span, the request did. Several executions can share one trace (Celery's tasks do), so "an
            # execution of the producer's trace" would name a sibling.
            publisher = producer if producer is not None and producer.pk not in seen_executions else None
        elif publisher is None and prev_trace:
            candidates = [
                e
                for e in level.executions_by_trace.get(prev_trace, [])
                if e.pk not in seen_executions and e.message_id not in seen_messages
            ]
            publisher = candidates[0] if candidates else None
        if publisher is not None:
            if publisher.pk in seen_executions:
                chain.close_cycle(current, f"cycle: {current} is already in this chain")
                break
            seen_executions.add(publisher.pk)
            hop = execution_hop(publisher, depth)
            chain.hops.append(hop)
            effect_at = hop.start or effect_at
            if not publisher.message_id:
                break
            if publisher.message_id in seen_messages:
                chain.close_cycle(publisher.message_id, f"cycle: {publisher.message_id} is already in this chain")
                break
            current, prev_trace, prev_span = publisher.message_id, "", ""
            continue
        # Neither a message nor an execution: the request (or an unknown cause) at the top of the chain.
        if prev_trace:
            chain.hops.append(
                Hop(
                    kind="request",
                    key=current or prev_trace,
                    label=f"request {current}" if current else "producer's trace",
                    trace_id=prev_trace,
                    depth=depth,
                )
            )
        else:
            chain.hops.append(
                Hop(
                    kind="missing",
                    key=current,
                    label=f"cause {current} not found (no message, execution or trace carries it)",
                    broken=True,
                    depth=depth,
                )
            )
        break
    _fill_traces(ns_id, chain.hops)
    return chain


def _producer_span_owner(namespace_id: int, trace_id: str, span_id: str) -> tuple[bool, Execution | None]:
    """(whether the producer span is stored, the execution that owns it): at most two queries, none without a span
    id."""
    from traces.models import Span

    if not trace_id or not span_id:
        return False, None
    row = Span.objects.filter(namespace_id=namespace_id, trace_id=trace_id, span_id=span_id).values("execution_id")
    found = row.first()
    if found is None:
        return False, None
    if found["execution_id"] is None:
        return True, None
    return True, execution_rows().filter(pk=found["execution_id"]).first()


def _fill_traces(namespace_id: int, hops: Sequence[Hop]) -> None:
    """One query: the trace summaries behind request/span hops give them a service, a name and a time."""
    from traces.models import Trace

    wanted = {h.trace_id for h in hops if h.kind in ("request", "span") and h.trace_id}
    if not wanted:
        return
    summaries = {
        t.trace_id: t
        for t in Trace.objects.filter(namespace_id=namespace_id, trace_id__in=wanted).only(
            "trace_id", "root_service", "root_name", "start_ns", "duration_ns", "root_span_id"
        )
    }
    for hop in hops:
        t = summaries.get(hop.trace_id)
        if hop.kind not in ("request", "span") or t is None:
            if hop.kind == "request" and t is None:
                hop.notes.append("the request's spans have not arrived")
            continue
        hop.service = hop.service or t.root_service
        hop.start = hop.start or ns_to_datetime(t.start_ns)
        hop.end = hop.end or ns_to_datetime(t.start_ns + t.duration_ns)
        if hop.kind == "request":
            hop.label = f"{hop.label}: {t.root_service} {t.root_name}".strip()


def caused(obj: Execution | Shard, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> Chain:
    """The effects, level by level: follow-on messages and the executions they triggered, and so on.

    A message is a follow-on of an execution when its causation id is the execution's id or its trigger message's
    id, or when it was published inside the execution's trace after the execution started.
    """
    chain = Chain()
    if isinstance(obj, Shard):
        execution = obj.execution
        root_ids = {obj.shard_id, execution.execution_id}
        root_traces = {t for t in (obj.trace_id, execution.trace_id) if t}
    else:
        execution = obj
        root_ids = {execution.execution_id}
        root_traces = {execution.trace_id} if execution.trace_id else set()
    if execution.message_id:
        root_ids.add(execution.message_id)
    ns_id = execution.namespace_id
    root_key = f"e:{execution.pk}"
    seen: set[str] = {f"m:{execution.message_id}"} if execution.message_id else set()
    seen.add(root_key)
    # The frontier: message ids and executions whose effects the next level looks for.
    frontier_messages: dict[str, str] = {}  # message id -> its hop key
    frontier_executions: list[tuple[Execution, str, set[str]]] = [(execution, root_key, root_ids)]
    started_at = {root_key: execution.started_at}
    # The workflow's correlation ids, learnt as the walk goes: they bound the unindexed causation clauses.
    correlations: set[str] = {execution.correlation_id} - {""}
    depth = 0
    while frontier_messages or frontier_executions:
        if depth >= max_depth:
            chain.truncated = True
            break
        depth += 1
        cause_of: dict[str, str] = dict(frontier_messages)
        trace_owner: dict[str, str] = {}
        for e, key, ids in frontier_executions:
            for i in ids:
                cause_of.setdefault(i, key)
            if e.trace_id:
                trace_owner[e.trace_id] = key
        for t in root_traces if depth == 1 else ():
            trace_owner.setdefault(t, root_key)
        found = _effects(ns_id, set(cause_of), set(trace_owner), set(frontier_messages), correlations)
        chain.truncated |= found.hit_limit
        next_messages: dict[str, str] = {}
        next_executions: list[tuple[Execution, str, set[str]]] = []
        for env in found.envelopes:
            by_cause = cause_of.get(env.causation_id, "") if env.causation_id else ""
            parent = by_cause
            if not parent and not env.causation_id:
                # No causation id: published inside an execution's trace after it started counts as its effect.
                parent = trace_owner.get(env.trace_id, "")
                began = started_at.get(parent)
                if parent and began and env.published_at and env.published_at < began:
                    continue
            if not parent:
                continue
            key = f"m:{env.message_id}"
            if key in seen:
                if by_cause:
                    # Every message has one cause; meeting it again through that cause means the causes loop.
                    chain.close_cycle(
                        env.message_id,
                        f"cycle: {env.message_id} is its own cause further up",
                        depth=depth,
                        parent=parent,
                    )
                continue
            seen.add(key)
            hop = message_hop(env, depth)
            hop.node, hop.parent = key, parent
            chain.hops.append(hop)
            next_messages[env.message_id] = key
            correlations.add(env.correlation_id)
        for e in found.executions:
            key = f"e:{e.pk}"
            if key in seen:
                continue
            parent = frontier_messages.get(e.message_id) or next_messages.get(e.message_id, "")
            if not parent:
                continue
            seen.add(key)
            hop = execution_hop(e, depth + (1 if e.message_id in next_messages else 0))
            hop.node, hop.parent = key, parent
            chain.hops.append(hop)
            started_at[key] = e.started_at
            next_executions.append((e, key, {e.execution_id}))
        if len(chain.hops) >= max_nodes:
            chain.truncated = True
            del chain.hops[max_nodes:]
            break
        frontier_messages, frontier_executions = next_messages, next_executions
    return _ordered(chain)


def _ordered(chain: Chain) -> Chain:
    """Depth-first, children after their parent, siblings by time: reads as an indented cause -> effect tree."""
    children: dict[str, list[Hop]] = {}
    for hop in chain.hops:
        children.setdefault(hop.parent, []).append(hop)
    keys = {h.node for h in chain.hops if h.node}
    roots = [h for h in chain.hops if h.parent not in keys]
    out: list[Hop] = []
    placed: set[int] = set()

    def place(hop: Hop, depth: int) -> None:
        if id(hop) in placed:
            return
        placed.add(id(hop))
        hop.depth = depth
        out.append(hop)
        for child in sorted(children.get(hop.node, []) if hop.node else [], key=_time_key):
            place(child, depth + 1)

    for root in sorted(roots, key=_time_key):
        place(root, 1)
    chain.hops = out
    return chain


def _time_key(hop: Hop) -> tuple[int, float]:
    return (0, hop.start.timestamp()) if hop.start else (1, 0.0)


@dataclass
class _Effects:
    envelopes: list[Envelope]
    executions: list[Execution]
    hit_limit: bool = False


def _effects(
    namespace_id: int, cause_ids: set[str], trace_ids: set[str], message_ids: set[str], correlations: set[str]
) -> _Effects:
    """Three queries: messages, producer spans and executions caused by any of `cause_ids` (or published inside
    one of `trace_ids`), plus the executions that consumed `message_ids`.

    Every clause rides an index: Message (namespace, causation_id) and trace_id; spans and executions have no
    causation index, so their causation clause is confined to the workflow's correlation ids (indexed), and spans
    are otherwise matched by trace (the unique (namespace, trace_id, span_id) index).
    """
    causes = sorted(cause_ids)
    traces = sorted(trace_ids)
    corrs = sorted(correlations - {""})
    envelopes: dict[str, Envelope] = {}
    message_q = Q(causation_id__in=causes)
    if traces:
        message_q |= Q(trace_id__in=traces)
    hit_limit = False
    rows = list(Message.objects.filter(namespace_id=namespace_id).filter(message_q)[:LEVEL_LIMIT])
    hit_limit |= len(rows) >= LEVEL_LIMIT
    for m in rows:
        envelopes.setdefault(m.message_id, Envelope(m.message_id)).absorb_message(m)
    span_q = Q(correlation_id__in=corrs, causation_id__in=causes) if corrs else Q(pk__in=[])
    if traces:
        span_q |= Q(trace_id__in=traces, kind=SPAN_KIND_PRODUCER)
    if corrs or traces:
        spans = list(span_values(namespace_id).exclude(message_id="").filter(span_q)[:LEVEL_LIMIT])
        hit_limit |= len(spans) >= LEVEL_LIMIT
        for s in spans:
            envelopes.setdefault(s["message_id"], Envelope(s["message_id"])).absorb_span(s)
    execution_q = Q(message_id__in=sorted(message_ids))
    if corrs:
        execution_q |= Q(correlation_id__in=corrs, causation_id__in=causes) & ~Q(message_id="")
    executions = list(
        execution_rows().filter(namespace_id=namespace_id).filter(execution_q).order_by("started_at", "id")
    )
    for e in executions:
        if e.causation_id in cause_ids and e.correlation_id in correlations:
            envelopes.setdefault(e.message_id, Envelope(e.message_id)).absorb_execution(e)
        elif e.message_id in envelopes:
            envelopes[e.message_id].absorb_execution(e)
    ordered = sorted(envelopes.values(), key=lambda v: (v.published_at is None, v.published_at or 0))
    return _Effects(ordered, executions, hit_limit)
