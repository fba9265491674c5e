"""OpenTelemetry plumbing: one TracerProvider per service, exporting over OTLP/HTTP.

- `DecisionSampler`: a root span takes the decision the execution made (manual always, scheduled at the job's
  rate); every other span follows its parent, so a decision carries through propagation.
- `BaggageAttributesProcessor`: copies the job.* baggage entries onto every span a service starts, and marks the
  span `traffic.origin=scheduler` when they are present: downstream services tell scheduler calls apart.
- `SeededIdGenerator`: trace and span ids from a seeded generator, so a replay is deterministic.
"""

from __future__ import annotations

import contextvars
import logging
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import baggage
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.util.types import Attributes

from jobtrace_sdk import conventions as conv
from jobtrace_sdk.config import Config

logger = logging.getLogger("jobtrace.sdk")

_root_decision: contextvars.ContextVar[bool | None] = contextvars.ContextVar("jobtrace_root_decision", default=None)


@contextmanager
def root_decision(sampled: bool) -> Iterator[None]:
    """Root spans started inside this block are sampled (or not) as decided."""
    token = _root_decision.set(sampled)
    try:
        yield
    finally:
        _root_decision.reset(token)


class _RootDecision(Sampler):
    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: object = None,
    ) -> SamplingResult:
        decided = _root_decision.get()
        if decided is None:
            return ALWAYS_ON.should_sample(parent_context, trace_id, name, kind, attributes, links)
        sampler = ALWAYS_ON if decided else ALWAYS_OFF
        return sampler.should_sample(parent_context, trace_id, name, kind, attributes, links)

    def get_description(self) -> str:
        return "JobtraceRootDecision"


def DecisionSampler() -> Sampler:
    return ParentBased(root=_RootDecision())


class BaggageAttributesProcessor(SpanProcessor):
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        entries = baggage.get_all(parent_context)
        if not entries:
            return
        present = {k: v for k, v in entries.items() if k in conv.BAGGAGE_KEYS or k == conv.TENANT_ID}
        for key, value in present.items():
            if span.attributes is None or key not in span.attributes:
                span.set_attribute(key, str(value))
        if conv.JOB_EXECUTION_ID in present and (span.attributes is None or conv.TRAFFIC_ORIGIN not in span.attributes):
            span.set_attribute(conv.TRAFFIC_ORIGIN, conv.ORIGIN_SCHEDULER)


class SeededIdGenerator(IdGenerator):
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def generate_span_id(self) -> int:
        value = 0
        while value == 0:
            value = self._rng.getrandbits(64)
        return value

    def generate_trace_id(self) -> int:
        value = 0
        while value == 0:
            value = self._rng.getrandbits(128)
        return value


def export_processor(config: Config, exporter: SpanExporter | None = None) -> SpanProcessor | None:
    """The processor that ships finished spans: to `exporter`, or over OTLP/HTTP to config.otlp_endpoint.

    One processor may serve several providers (services): each span keeps its own resource, and one export
    thread sends them all in shared batches."""
    if exporter is None and config.otlp_endpoint:
        headers = dict(config.traces_headers) if config.traces_headers is not None else config.auth_headers()
        exporter = OTLPSpanExporter(
            endpoint=config.otlp_endpoint,
            headers=headers,
            timeout=config.export_timeout,
            compression=Compression.Gzip if config.compress_spans else Compression.NoCompression,
        )
    if exporter is None:
        return None
    if not config.batch_spans:
        return SimpleSpanProcessor(exporter)
    return BatchSpanProcessor(
        exporter,
        max_queue_size=config.max_queue_size,
        max_export_batch_size=config.max_export_batch_size,
        schedule_delay_millis=500,
        export_timeout_millis=config.export_timeout * 1000,
    )


def build_provider(
    service_name: str,
    processor: SpanProcessor | None,
    *,
    resource_attributes: dict[str, str] | None = None,
    id_generator: IdGenerator | None = None,
) -> TracerProvider:
    """A provider for one service, sampling by the execution's decision and shipping through `processor`."""
    resource = Resource.create({"service.name": service_name, **(resource_attributes or {})})
    provider = TracerProvider(
        resource=resource,
        sampler=DecisionSampler(),
        id_generator=id_generator or RandomIdGenerator(),
        # Jobtrace shuts its processor down itself, bounded (the SDK's own exit hook may wait 30 s per provider).
        shutdown_on_exit=False,
    )
    provider.add_span_processor(BaggageAttributesProcessor())
    if processor is not None:
        provider.add_span_processor(processor)
    return provider


def current_ids() -> tuple[str, str]:
    """The (trace_id, span_id) of the current span, as hex; empty strings outside any span."""
    ctx = get_current_span().get_span_context()
    if not ctx.is_valid:
        return "", ""
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
