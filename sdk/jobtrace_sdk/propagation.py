"""W3C trace context and baggage across HTTP calls and message envelopes (DESIGN.md identity rules).

HTTP (synchronous): `inject_headers()` before the call, `extract_context(headers)` on the server; trace id,
correlation and tenant are inherited.

Processes (a command started by `jobtrace run`): `inject_env(env)` / `extract_env()` carry the same context in the
environment variables TRACEPARENT, TRACESTATE and BAGGAGE, as OpenTelemetry specifies environment variables as
context propagation carriers.

Queues (asynchronous): `new_envelope(...)` when publishing: a new message_id, the correlation_id inherited from
the cause (or started here), causation_id = the cause's message id (or request id), the current trace and
span ids, the tenant; the producer's traceparent and baggage ride in `headers`. A consumer either continues
the producer's trace (`producer_context(envelope)` as parent) or starts a new one with a span link to the
producer's span (`producer_link(envelope)`), which is what `Jobtrace.execution(envelope=...)` does.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, MutableMapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from opentelemetry import baggage, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace import Link, SpanContext
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from jobtrace_sdk import conventions as conv

PROPAGATOR = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


def inject_headers(headers: MutableMapping[str, str] | None = None, context: Context | None = None) -> dict[str, str]:
    """Add `traceparent` (and `tracestate`, `baggage`) for the current (or given) context; returns the headers."""
    carrier: dict[str, str] = dict(headers or {})
    PROPAGATOR.inject(carrier, context=context)
    if headers is not None:
        headers.update(carrier)
    return carrier


def extract_context(headers: Mapping[str, str], context: Context | None = None) -> Context:
    """The remote parent and baggage found in headers (case-insensitive names, as HTTP servers give them)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    return PROPAGATOR.extract(lowered, context=context)


# W3C header -> environment variable (OpenTelemetry "Environment Variables as Context Propagation Carriers").
ENV_CARRIER = {"traceparent": "TRACEPARENT", "tracestate": "TRACESTATE", "baggage": "BAGGAGE"}


def inject_env(env: MutableMapping[str, str] | None = None, context: Context | None = None) -> dict[str, str]:
    """TRACEPARENT (and TRACESTATE, BAGGAGE) for the current (or given) context, set in `env` (updated in place
    when given) and returned. A variable this context has no value for is removed, so a child never inherits a
    stale parent's TRACESTATE or BAGGAGE next to a new TRACEPARENT."""
    headers = inject_headers(context=context)
    out: dict[str, str] = dict(env) if env is not None else {}
    for header, variable in ENV_CARRIER.items():
        if header in headers:
            out[variable] = headers[header]
        else:
            out.pop(variable, None)
    if env is not None:
        for variable in ENV_CARRIER.values():
            env.pop(variable, None)
        env.update(out)
    return out


def extract_env(environ: Mapping[str, str] | None = None, context: Context | None = None) -> Context:
    """The parent context a process was started with: TRACEPARENT / TRACESTATE / BAGGAGE (os.environ by default)."""
    source = os.environ if environ is None else environ
    headers = {header: source[variable] for header, variable in ENV_CARRIER.items() if source.get(variable)}
    return extract_context(headers, context)


def job_baggage(headers: Mapping[str, str]) -> dict[str, str]:
    """The job.* entries of a request's baggage: non-empty means the scheduler originated this call."""
    entries = baggage.get_all(extract_context(headers))
    return {k: str(v) for k, v in entries.items() if k in conv.BAGGAGE_KEYS}


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Envelope:
    message_id: str
    correlation_id: str
    causation_id: str = ""
    trace_id: str = ""
    span_id: str = ""
    tenant_id: str = ""
    event_type: str = ""
    operation: str = "publish"
    published_at: str = ""
    consumed_at: str = ""
    producer_service: str = ""
    consumer_service: str = ""
    # traceparent / tracestate / baggage of the producer, as a message's headers carry them.
    headers: dict[str, str] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Envelope:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        if not values.get("message_id"):
            raise ValueError("an envelope needs a message_id")
        return cls(**values)

    def record_fields(self) -> dict[str, str]:
        """The `envelope` object of an execution record (DESIGN.md "Record fields")."""
        return {name: str(getattr(self, name)) for name in conv.ENVELOPE_RECORD_FIELDS if getattr(self, name)}

    def message_record(self) -> dict[str, Any]:
        """One item of POST /api/v1/messages."""
        record = {k: v for k, v in self.to_dict().items() if k not in {"headers", "payload"} and v not in ("", None)}
        return record

    def consumed(self, at: str, consumer_service: str) -> Envelope:
        return replace(self, consumed_at=at, consumer_service=consumer_service, operation="process")

    def span_attributes(self) -> dict[str, str]:
        attributes = {
            conv.MESSAGE_ID: self.message_id,
            conv.CORRELATION_ID: self.correlation_id,
            conv.CAUSATION_ID: self.causation_id,
            conv.TENANT_ID: self.tenant_id,
            conv.EVENT_TYPE: self.event_type,
        }
        return {k: v for k, v in attributes.items() if v}


def new_envelope(
    event_type: str,
    *,
    cause: Envelope | str | None = None,
    correlation_id: str | None = None,
    tenant_id: str | None = None,
    payload: dict[str, Any] | None = None,
    published_at: str = "",
    producer_service: str = "",
    message_id: str | None = None,
    context: Context | None = None,
) -> Envelope:
    """An envelope to publish from the current span (identity rules: new id, inherited correlation and tenant).

    `cause` is the envelope being handled (its message_id becomes the causation_id, its correlation_id and
    tenant are inherited) or the id of the request that caused this message. Without one, inside an execution
    that a message triggered, that message is the cause.
    """
    mid = message_id or new_id()
    if cause is None:
        # Inside an execution that a message triggered, that message is the cause.
        from jobtrace_sdk.runs import current_execution

        running = current_execution()
        if running is not None and running.envelope is not None:
            cause = running.envelope
    if isinstance(cause, Envelope):
        causation = cause.message_id
        correlation = correlation_id or cause.correlation_id or cause.message_id
        tenant = tenant_id if tenant_id is not None else cause.tenant_id
    else:
        causation = cause or ""
        correlation = correlation_id or causation or mid
        tenant = tenant_id or ""
    span_context = trace.get_current_span(context).get_span_context()
    trace_id = format(span_context.trace_id, "032x") if span_context.is_valid else ""
    span_id = format(span_context.span_id, "016x") if span_context.is_valid else ""
    return Envelope(
        message_id=mid,
        correlation_id=correlation,
        causation_id=causation,
        trace_id=trace_id,
        span_id=span_id,
        tenant_id=tenant,
        event_type=event_type,
        operation="publish",
        published_at=published_at,
        producer_service=producer_service,
        headers=inject_headers(context=context),
        payload=dict(payload or {}),
    )


def producer_context(envelope: Envelope) -> Context:
    """The producer's span context (and baggage) as a parent: a consumer that continues the same trace."""
    return extract_context(envelope.headers)


def producer_span_context(envelope: Envelope) -> SpanContext | None:
    ctx = trace.get_current_span(extract_context(envelope.headers)).get_span_context()
    if ctx.is_valid:
        return ctx
    if envelope.trace_id and envelope.span_id:
        return SpanContext(
            trace_id=int(envelope.trace_id, 16),
            span_id=int(envelope.span_id, 16),
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
    return None


def producer_link(envelope: Envelope) -> Link | None:
    """A span link to the producer's span: required when the consumer starts a new trace."""
    ctx = producer_span_context(envelope)
    if ctx is None:
        return None
    return Link(ctx, attributes={conv.MESSAGE_ID: envelope.message_id, "link.reason": "consumed message"})
