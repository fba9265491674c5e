"""One execution and its shards as context managers: `ExecutionRun` (root span + execution record) and `ShardRun`
(shard span + shard record), made by `Jobtrace.execution(...)` and `ExecutionRun.shard(...)`."""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from jobtrace_sdk import conventions as conv
from jobtrace_sdk.clock import rfc3339
from jobtrace_sdk.propagation import Envelope, producer_context, producer_link
from jobtrace_sdk.records import EXECUTIONS, SHARDS
from jobtrace_sdk.sampling import decide
from jobtrace_sdk.tracing import root_decision

if TYPE_CHECKING:
    from jobtrace_sdk.client import Jobtrace

ShardLayout = Literal["child", "trace"]

_current_execution: contextvars.ContextVar[ExecutionRun | None] = contextvars.ContextVar(
    "jobtrace_execution", default=None
)


def current_execution() -> ExecutionRun | None:
    """The execution running in this context (inside `Jobtrace.execution` or a `@jt.job` function)."""
    return _current_execution.get()


def _hex_ids(span: Span) -> tuple[str, str]:
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class ExecutionRun:
    """One execution: root span + execution record. Use as a context manager (see `Jobtrace.execution`)."""

    def __init__(
        self,
        jt: Jobtrace,
        *,
        job: str,
        namespace: str,
        execution_id: str,
        trigger: str,
        attempt: int,
        params: dict[str, Any],
        worker: str,
        scheduled_at: int | None,
        envelope: Envelope | None,
        continue_trace: bool,
        context: Context | None,
        links: list[Link],
        sampled: bool | None,
        span_name: str,
    ) -> None:
        self.jt = jt
        self.job = job
        self.namespace = namespace
        self.execution_id = execution_id
        self.trigger = trigger
        self.attempt = attempt
        self.params = params
        self.worker = worker
        self.scheduled_at = scheduled_at
        self.envelope = envelope
        self.continue_trace = continue_trace
        self.parent = context
        self.links = links
        self.forced_sample = sampled
        self.span_name = span_name
        self.sampled = True
        self.status = "running"
        self.error = ""
        self.trace_id = ""
        self.span_id = ""
        self.started_ns = 0
        self.finished_ns: int | None = None
        self.shards_total = 0
        self.shards_failed = 0
        self.first_shard_error = ""
        # True for an execution joined on another worker (Jobtrace.joined_execution): not entered, not reported.
        self.joined = False
        self.span: Span = trace.INVALID_SPAN
        self.context: Context = Context()
        self._token: object = None
        self._exec_token: contextvars.Token[ExecutionRun | None] | None = None

    # The attributes every span of this execution carries (and the baggage downstream services receive).
    def job_attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            conv.JOB_NAME: self.job,
            conv.JOB_EXECUTION_ID: self.execution_id,
            conv.JOB_TRIGGER: self.trigger,
            conv.JOB_ATTEMPT: self.attempt,
        }
        if self.namespace:
            attributes[conv.JOB_NAMESPACE] = self.namespace
        return attributes

    def _decide(self, parent: Context) -> bool:
        if self.forced_sample is not None:
            return self.forced_sample
        parent_span = trace.get_current_span(parent).get_span_context()
        if parent_span.is_valid:
            return parent_span.trace_flags.sampled
        return decide(self.trigger, self.jt.sampling_policy(self.job, self.namespace), self.jt.rng)

    def __enter__(self) -> ExecutionRun:
        if self.joined:
            raise RuntimeError("a joined execution is the coordinator's: run its shards, do not enter it")
        jt = self.jt
        links = list(self.links)
        attributes = self.job_attributes()
        if self.envelope is not None:
            attributes.update(self.envelope.span_attributes())
            if self.continue_trace:
                parent = producer_context(self.envelope)
            else:
                parent = Context()
                link = producer_link(self.envelope)
                if link is not None:
                    links.append(link)
        else:
            parent = self.parent if self.parent is not None else Context()
        self.sampled = self._decide(parent)
        # A shard id in the baggage is another execution's (the publisher's): never this one's.
        parent = baggage.remove_baggage(conv.JOB_SHARD_ID, context=parent)
        for key, value in attributes.items():
            if key in conv.BAGGAGE_KEYS or key == conv.TENANT_ID:
                parent = baggage.set_baggage(key, str(value), context=parent)
        self.started_ns = jt.clock.now_ns()
        kind = SpanKind.CONSUMER if self.envelope is not None else SpanKind.INTERNAL
        with root_decision(self.sampled):
            self.span = jt.tracer.start_span(
                self.span_name,
                context=parent,
                kind=kind,
                attributes=attributes,
                links=links,
                start_time=self.started_ns,
            )
        self.trace_id, self.span_id = _hex_ids(self.span)
        self.context = trace.set_span_in_context(self.span, parent)
        self._token = otel_context.attach(self.context)
        self._exec_token = _current_execution.set(self)
        jt.records.submit(EXECUTIONS, self.record())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        jt = self.jt
        now = jt.clock.now_ns()
        if exc is not None:
            self.span.record_exception(exc, timestamp=now, escaped=True)
            self.error = self.error or _error_text(exc)
            self.status = "failed"
        elif self.status == "running":
            if self.shards_failed:
                self.status = "failed"
                self.error = self.error or (
                    f"{self.shards_failed} of {self.shards_total} shards failed; first: {self.first_shard_error}"
                )
            else:
                self.status = "succeeded"
        if self.status in ("failed", "timed_out"):
            self.span.set_status(Status(StatusCode.ERROR, self.error))
        self.span.set_attribute("job.status", self.status)
        self.finished_ns = now
        if self._exec_token is not None:
            _current_execution.reset(self._exec_token)
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
        self.span.end(end_time=now)
        jt.records.submit(EXECUTIONS, self.record())
        return False

    def fail(self, error: str, status: str = "failed") -> None:
        """Mark the execution failed (or timed_out/cancelled) without raising."""
        self.status = status
        self.error = error

    def record(self) -> dict[str, Any]:
        record = self.jt._base_record(self.namespace, self.job, self.execution_id)
        record.update(
            {
                "trigger": self.trigger,
                "status": self.status,
                "started_at": rfc3339(self.started_ns),
                "attempt": self.attempt,
                "worker": self.worker,
                "params": self.params,
                "error": self.error,
                "trace_id": self.trace_id,
                "sampled": self.sampled,
            }
        )
        if self.scheduled_at is not None:
            record["scheduled_at"] = rfc3339(self.scheduled_at)
        if self.finished_ns is not None:
            record["finished_at"] = rfc3339(self.finished_ns)
        if self.envelope is not None:
            record["envelope"] = self.envelope.record_fields()
        return record

    def shard(
        self,
        shard_id: str,
        *,
        labels: Mapping[str, Any] | None = None,
        index: int | None = None,
        layout: ShardLayout = "child",
        parent_shard_id: str = "",
        worker: str | None = None,
        attempt: int = 1,
        raise_errors: bool = True,
        span_name: str | None = None,
    ) -> ShardRun:
        """A shard of this execution with business labels (e.g. {"account": "1000002"}).

        layout "child": the shard's span is a child in the execution's trace. layout "trace": the shard gets a
        trace of its own whose root links to the execution span (for very large jobs).
        raise_errors False: an exception in the shard is recorded (shard failed) and not propagated; the
        execution then ends failed, naming how many shards failed."""
        return ShardRun(
            self,
            shard_id=shard_id,
            labels={str(k): str(v) for k, v in (labels or {}).items()},
            index=index,
            layout=layout,
            parent_shard_id=parent_shard_id,
            worker=worker if worker is not None else self.worker,
            attempt=attempt,
            raise_errors=raise_errors,
            span_name=span_name or f"shard {shard_id}",
        )


class ShardRun:
    def __init__(
        self,
        execution: ExecutionRun,
        *,
        shard_id: str,
        labels: dict[str, str],
        index: int | None,
        layout: ShardLayout,
        parent_shard_id: str,
        worker: str,
        attempt: int,
        raise_errors: bool,
        span_name: str,
    ) -> None:
        if layout not in ("child", "trace"):
            raise ValueError(f"layout must be 'child' or 'trace', not {layout!r}")
        self.execution = execution
        self.shard_id = shard_id
        self.labels = labels
        self.index = index
        self.layout = layout
        self.parent_shard_id = parent_shard_id
        self.worker = worker
        self.attempt = attempt
        self.raise_errors = raise_errors
        self.span_name = span_name
        self.status = "running"
        self.error = ""
        self.trace_id = ""
        self.span_id = ""
        self.started_ns = 0
        self.finished_ns: int | None = None
        self.span: Span = trace.INVALID_SPAN
        self._token: object = None

    def __enter__(self) -> ShardRun:
        run = self.execution
        jt = run.jt
        attributes = run.job_attributes()
        attributes[conv.JOB_SHARD_ID] = self.shard_id
        for key, value in self.labels.items():
            attributes[conv.JOB_SHARD_LABEL_PREFIX + key] = value
        links: list[Link] = []
        if self.layout == "child":
            parent = run.context
        else:
            parent = Context()
            for key, value in baggage.get_all(run.context).items():
                parent = baggage.set_baggage(key, value, context=parent)
            if run.span.get_span_context().is_valid:
                links.append(Link(run.span.get_span_context(), attributes={"link.reason": "shard of execution"}))
        parent = baggage.set_baggage(conv.JOB_SHARD_ID, self.shard_id, context=parent)
        self.started_ns = jt.clock.now_ns()
        with root_decision(run.sampled):
            self.span = jt.tracer.start_span(
                self.span_name,
                context=parent,
                kind=SpanKind.INTERNAL,
                attributes=attributes,
                links=links,
                start_time=self.started_ns,
            )
        self.trace_id, self.span_id = _hex_ids(self.span)
        self._token = otel_context.attach(trace.set_span_in_context(self.span, parent))
        run.shards_total += 1
        jt.records.submit(SHARDS, self.record())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        run = self.execution
        now = run.jt.clock.now_ns()
        if exc is not None:
            self.span.record_exception(exc, timestamp=now, escaped=self.raise_errors)
            self.status = "failed"
            self.error = self.error or _error_text(exc)
        elif self.status == "running":
            self.status = "succeeded"
        if self.status in ("failed", "timed_out"):
            self.span.set_status(Status(StatusCode.ERROR, self.error))
            run.shards_failed += 1
            run.first_shard_error = run.first_shard_error or f"shard {self.shard_id}: {self.error}"
        self.finished_ns = now
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
        self.span.end(end_time=now)
        run.jt.records.submit(SHARDS, self.record())
        return exc is not None and not self.raise_errors and isinstance(exc, Exception)

    def fail(self, error: str, status: str = "failed") -> None:
        self.status = status
        self.error = error

    def record(self) -> dict[str, Any]:
        run = self.execution
        record = run.jt._base_record(run.namespace, run.job, run.execution_id)
        record.update(
            {
                "shard_id": self.shard_id,
                "labels": self.labels,
                "status": self.status,
                "worker": self.worker,
                "started_at": rfc3339(self.started_ns),
                "attempt": self.attempt,
                "error": self.error,
                "trace_id": self.trace_id,
                "span_id": self.span_id,
            }
        )
        if self.index is not None:
            record["index"] = self.index
        if self.parent_shard_id:
            record["parent_shard_id"] = self.parent_shard_id
        if self.finished_ns is not None:
            record["finished_at"] = rfc3339(self.finished_ns)
        return record
