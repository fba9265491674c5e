"""What a trace started downstream: the messages it published, the runs and spans that consumed them, and the
workflows (correlation ids) they belong to. Shown on the trace page (`{% trace_causality %}`), so the origin
request's trace leads forward to its workflow and its consumers.

The messages are the Message rows whose producer trace it is and the message ids its own spans carry; one
`load_level` (jobs/causality/envelopes.py) then finds their consumers. Two queries when the trace published
nothing, five when it did, whatever the number of messages (at most MAX_MESSAGES listed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from console import links
from jobs.causality.envelopes import SPAN_KIND_CONSUMER, load_level, span_values
from jobs.causality.models import Message

MAX_MESSAGES = 20


@dataclass(frozen=True)
class Consumer:
    kind: str  # "execution" | "span"
    label: str
    url: str
    status: str = ""


@dataclass(frozen=True)
class Published:
    message_id: str
    event_type: str
    url: str  # the message's workflow (else the lookup of its id)
    consumers: list[Consumer]


@dataclass
class TraceCausality:
    messages: list[Published] = field(default_factory=list)
    correlations: list[tuple[str, str]] = field(default_factory=list)  # (correlation id, its page)
    more: int = 0  # messages beyond MAX_MESSAGES

    @property
    def empty(self) -> bool:
        return not self.messages and not self.correlations


def trace_causality(namespace_id: int, trace_id: str) -> TraceCausality:
    """The messages this trace published (and who consumed them) and the workflows its spans name."""
    produced = dict(
        Message.objects.filter(namespace_id=namespace_id, trace_id=trace_id)
        .order_by("published_at", "id")
        .values_list("message_id", "correlation_id")[: MAX_MESSAGES + 1]
    )
    correlations: dict[str, None] = dict.fromkeys(c for c in produced.values() if c)
    carried = (
        span_values(namespace_id)
        .filter(trace_id=trace_id)
        .exclude(message_id="", correlation_id="")
        .values_list("message_id", "correlation_id", "kind")[:500]
    )
    for message_id, correlation_id, kind in carried:
        if correlation_id:
            correlations.setdefault(correlation_id)
        if message_id and kind != SPAN_KIND_CONSUMER:  # a consumer span names the message that caused it
            produced.setdefault(message_id, correlation_id)
    ids = list(produced)[:MAX_MESSAGES]
    result = TraceCausality(more=max(len(produced) - MAX_MESSAGES, 0))
    result.correlations = [(c, links.correlation_url(c)) for c in list(correlations)[:5]]
    if not ids:
        return result
    level = load_level(namespace_id, ids)
    for message_id in ids:
        env = level.envelopes.get(message_id)
        if env is None:
            continue
        consumers = [
            Consumer("execution", f"{e.job.name} #{e.execution_id}", links.execution_url_of(e), e.status)
            for e in env.consumers
        ]
        consumers += [_span_consumer(s) for s in env.consumer_spans if s["trace_id"] != trace_id][:5]
        result.messages.append(
            Published(
                message_id,
                env.event_type,
                links.message_url(message_id, env.correlation_id),
                consumers,
            )
        )
        if env.correlation_id and env.correlation_id not in correlations:
            correlations.setdefault(env.correlation_id)
            result.correlations.append((env.correlation_id, links.correlation_url(env.correlation_id)))
    return result


def _span_consumer(span: dict[str, Any]) -> Consumer:
    return Consumer(
        "span", f"{span['service']}: {span['name']}", links.trace_url(span["trace_id"], span["span_id"] or None)
    )
