"""Resolve any pasted id to what it names: trace, span, execution, shard, message, correlation or alert.

Beyond whole ids: a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`) opens its trace at the span; a span id
(16 hex) its trace at that span; a trace-id prefix of at least 8 hex digits the trace it names, or, when several
traces start with it, the list of them.

Shared by the lookup box (`/search?q=`) and `GET /api/v1/lookup?id=`. Every query is scoped to the caller's
namespaces, so an id from another namespace resolves to nothing, exactly like an id that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from console import links

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
MAX_MATCHES_PER_KIND = 20
MIN_PREFIX = 8  # hex digits of a trace-id prefix (4 bytes: ambiguous among a few traces at most)


@dataclass(frozen=True)
class Match:
    kind: str  # trace | span | execution | shard | message | correlation | alert
    url: str
    namespace: str
    label: str
    ids: dict[str, str] = field(default_factory=dict)


def normalise_trace_id(raw: str) -> str | None:
    """A 32-hex trace id (left-padded when a 64-bit or unpadded id is pasted), lower case; else None."""
    value = raw.strip().lower()
    if not value or len(value) > 32 or not _HEX.match(value):
        return None
    return value.rjust(32, "0")


def parse_traceparent(raw: str) -> tuple[str, str] | None:
    """(trace id, span id) of a W3C traceparent header value (version 00, or a later one read the same way);
    `traceparent: ` before it is allowed, as it is pasted from a header dump."""
    text = raw.strip().lower()
    if text.startswith("traceparent:"):
        text = text.partition(":")[2].strip()
    match = _TRACEPARENT.match(text)
    if match is None or match.group(1) == "ff" or (match.group(1) == "00" and match.group(5)):
        return None
    trace_id, span_id = match.group(2), match.group(3)
    if set(trace_id) == {"0"} or set(span_id) == {"0"}:
        return None
    return trace_id, span_id


def _trace_prefix(q: str) -> str | None:
    """A trace-id prefix to search by: 8 to 31 hex digits."""
    return q.lower() if MIN_PREFIX <= len(q) < 32 and _HEX.match(q) else None


def resolve(query: str, namespace_ids: Iterable[int]) -> list[Match]:
    """Every kind of record the id names, in the caller's namespaces.

    Each table is asked once (at most five narrow queries, no ORM objects): lookup is what a responder pastes
    into during an incident, and most of its cost is compiling SQL, not running it.
    """
    from django.db.models import Q

    from jobs.models import Alert, Execution, Message, Shard
    from traces.models import Trace

    ids = list(namespace_ids)
    q = query.strip()
    if not q or not ids or len(q) > 300 or "\x00" in q:  # PostgreSQL text cannot hold NUL: no id contains one
        return []
    matches: list[Match] = []
    context = parse_traceparent(q)
    if context is not None:
        return _traceparent_matches(ids, *context)
    trace_id = normalise_trace_id(q)
    prefix = _trace_prefix(q)

    traces: list[tuple[str, str, str, str]] = []
    if trace_id:
        wanted = Q(trace_id=trace_id)
        if prefix:
            # A range the trace-id index answers (hex digits sort below "g"), then the prefix itself.
            wanted |= Q(trace_id__gte=prefix, trace_id__lt=prefix + "g", trace_id__startswith=prefix)
        traces = list(
            Trace.objects.in_namespaces(ids)
            .filter(wanted)
            .order_by("-start_ns")
            .values_list("trace_id", "root_service", "root_name", "namespace__name")[:MAX_MATCHES_PER_KIND]
        )
    for t_id, root_service, root_name, t_ns in traces:
        matches.append(
            Match(
                "trace", links.trace_url(t_id), t_ns, f"trace {t_id} ({root_service}: {root_name})", {"trace_id": t_id}
            )
        )
    if len(q) == 16 and _HEX.match(q):
        matches.extend(_span_matches(ids, q.lower()))
    exact_trace = any(t[0] == trace_id for t in traces)

    # Executions by their id; by trace id when the console has no spans of that trace yet (the execution still
    # names it); and whether the id is a workflow's correlation id. One query, told apart in Python.
    wanted = Q(execution_id=q) | Q(correlation_id=q)
    if trace_id and not exact_trace:
        wanted |= Q(trace_id=trace_id)
    correlated = False
    executions = (
        Execution.objects.in_namespaces(ids)
        .filter(wanted)
        .order_by()
        .values_list("execution_id", "status", "trace_id", "correlation_id", "job__name", "namespace__name")
    )
    for e_id, status, e_trace, e_corr, job, e_ns in executions[: MAX_MATCHES_PER_KIND * 2]:
        if e_corr == q:
            correlated = True
        if e_id == q:
            label = f"execution {e_id} of {job} ({status})"
            extra: dict[str, str] = {}
        elif trace_id and e_trace == trace_id and not exact_trace:
            label = f"execution {e_id} of {job} (trace {trace_id})"
            extra = {"trace_id": trace_id}
        else:
            continue
        matches.append(
            Match(
                "execution",
                links.execution_url(e_ns, job, e_id),
                e_ns,
                label,
                {"job": job, "execution_id": e_id, **extra},
            )
        )

    shards = (
        Shard.objects.in_namespaces(ids)
        .filter(shard_id=q)
        .order_by()
        .values_list("shard_id", "status", "execution__execution_id", "execution__job__name", "namespace__name")
    )
    for s_id, status, e_id, job, s_ns in shards[:MAX_MATCHES_PER_KIND]:
        matches.append(
            Match(
                "shard",
                links.shard_url(s_ns, job, e_id, s_id),
                s_ns,
                f"shard {s_id} of {job} #{e_id} ({status})",
                {"job": job, "execution_id": e_id, "shard_id": s_id},
            )
        )

    messages = (
        Message.objects.in_namespaces(ids)
        .filter(Q(message_id=q) | Q(correlation_id=q))
        .order_by()
        .values_list("message_id", "correlation_id", "trace_id", "event_type", "namespace__name")
    )
    for m_id, m_corr, m_trace, event_type, m_ns in messages[: MAX_MATCHES_PER_KIND * 2]:
        if m_corr == q:
            correlated = True
        if m_id != q:
            continue
        if m_corr:
            target = links.correlation_url(m_corr)
        else:
            target = links.trace_url(m_trace) if m_trace else links.correlation_url(m_id)
        matches.append(
            Match(
                "message",
                target,
                m_ns,
                f"message {m_id} ({event_type})",
                {"message_id": m_id, "correlation_id": m_corr},
            )
        )
    if correlated:
        matches.append(Match("correlation", links.correlation_url(q), "", f"workflow {q}", {"correlation_id": q}))

    if _HEX.match(q) and len(q) <= 16:  # Alertmanager and Grafana fingerprints are 16 hex digits (%016x)
        alerts = (
            Alert.objects.in_namespaces(ids)
            .filter(fingerprint=q.lower())
            .order_by("-starts_at")
            .values_list("pk", "name", "status", "fingerprint", "namespace__name")
        )
        for a_pk, name, status, fingerprint, a_ns in alerts[:MAX_MATCHES_PER_KIND]:
            matches.append(
                Match("alert", links.alert_url(a_pk), a_ns, f"alert {name} ({status})", {"fingerprint": fingerprint})
            )
    return matches


def _span_matches(ids: list[int], span_id: str, trace_id: str | None = None) -> list[Match]:
    """A span id (of one trace, when given): its trace opened at the span. Uses the span-id index; a span id is
    unique in practice, so this is one or no row."""
    from traces.models import Span

    spans = Span.objects.in_namespaces(ids).filter(span_id=span_id)
    if trace_id is not None:
        spans = spans.filter(trace_id=trace_id)
    rows = spans.order_by().values_list("trace_id", "service", "name", "namespace__name")[:MAX_MATCHES_PER_KIND]
    return [
        Match(
            "span",
            links.trace_url(t_id, span_id),
            s_ns,
            f"span {span_id} ({service}: {name}) in trace {t_id}",
            {"trace_id": t_id, "span_id": span_id},
        )
        for t_id, service, name, s_ns in rows
    ]


def _traceparent_matches(ids: list[int], trace_id: str, span_id: str) -> list[Match]:
    """A traceparent: its trace opened at its span when the console holds the span, else what its trace id
    resolves to (the trace, or the execution that names it while its spans have not arrived)."""
    return _span_matches(ids, span_id, trace_id) or resolve(trace_id, ids)
