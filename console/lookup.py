"""Resolve any pasted id to what it names: trace, execution, shard, message, correlation or alert.

Shared by the lookup box (`/search?q=`) and `GET /api/v1/lookup?id=`. Every query is scoped to the caller's
namespaces, so an id from another namespace resolves to nothing, exactly like an id that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from console import links

_HEX = re.compile(r"^[0-9a-fA-F]+$")
MAX_MATCHES_PER_KIND = 20


@dataclass(frozen=True)
class Match:
    kind: str  # trace | execution | shard | message | correlation | alert
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


def resolve(query: str, namespace_ids: Iterable[int]) -> list[Match]:
    from jobs.models import Alert, Execution, Message, Shard
    from traces.models import Trace

    ids = list(namespace_ids)
    q = query.strip()
    if not q or not ids or len(q) > 300 or "\x00" in q:  # PostgreSQL text cannot hold NUL: no id contains one
        return []
    matches: list[Match] = []

    trace_id = normalise_trace_id(q)
    if trace_id:
        for t in (
            Trace.objects.in_namespaces(ids)
            .filter(trace_id=trace_id)
            .select_related("namespace")[:MAX_MATCHES_PER_KIND]
        ):
            matches.append(
                Match(
                    "trace",
                    links.trace_url(t.trace_id),
                    t.namespace.name,
                    f"trace {t.trace_id} ({t.root_service}: {t.root_name})",
                    {"trace_id": t.trace_id},
                )
            )

    executions = (
        Execution.objects.in_namespaces(ids)
        .filter(execution_id=q)
        .select_related("job__namespace")[:MAX_MATCHES_PER_KIND]
    )
    for e in executions:
        matches.append(
            Match(
                "execution",
                links.execution_url_of(e),
                e.job.namespace.name,
                f"execution {e.execution_id} of {e.job.name} ({e.status})",
                {"job": e.job.name, "execution_id": e.execution_id},
            )
        )
    if trace_id and not any(m.kind == "trace" for m in matches):
        # A trace the console has no spans for yet can still name its execution.
        for e in (
            Execution.objects.in_namespaces(ids)
            .filter(trace_id=trace_id)
            .select_related("job__namespace")[:MAX_MATCHES_PER_KIND]
        ):
            matches.append(
                Match(
                    "execution",
                    links.execution_url_of(e),
                    e.job.namespace.name,
                    f"execution {e.execution_id} of {e.job.name} (trace {trace_id})",
                    {"job": e.job.name, "execution_id": e.execution_id, "trace_id": trace_id},
                )
            )

    shards = (
        Shard.objects.in_namespaces(ids)
        .filter(shard_id=q)
        .select_related("execution__job__namespace")[:MAX_MATCHES_PER_KIND]
    )
    for s in shards:
        job = s.execution.job
        matches.append(
            Match(
                "shard",
                links.shard_url_of(s),
                job.namespace.name,
                f"shard {s.shard_id} of {job.name} #{s.execution.execution_id} ({s.status})",
                {"job": job.name, "execution_id": s.execution.execution_id, "shard_id": s.shard_id},
            )
        )

    for m in Message.objects.in_namespaces(ids).filter(message_id=q).select_related("namespace")[:MAX_MATCHES_PER_KIND]:
        target = (
            links.correlation_url(m.correlation_id)
            if m.correlation_id
            else (links.trace_url(m.trace_id) if m.trace_id else links.correlation_url(m.message_id))
        )
        matches.append(
            Match(
                "message",
                target,
                m.namespace.name,
                f"message {m.message_id} ({m.event_type})",
                {"message_id": m.message_id, "correlation_id": m.correlation_id},
            )
        )

    correlated = (
        Message.objects.in_namespaces(ids).filter(correlation_id=q).exists()
        or Execution.objects.in_namespaces(ids).filter(correlation_id=q).exists()
    )
    if correlated:
        matches.append(Match("correlation", links.correlation_url(q), "", f"workflow {q}", {"correlation_id": q}))

    for a in Alert.objects.in_namespaces(ids).filter(fingerprint=q).select_related("namespace")[:MAX_MATCHES_PER_KIND]:
        matches.append(
            Match(
                "alert",
                links.alert_url(a.pk),
                a.namespace.name,
                f"alert {a.name} ({a.status})",
                {"fingerprint": a.fingerprint},
            )
        )
    return matches
