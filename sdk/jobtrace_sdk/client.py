"""The SDK's entry point: `Jobtrace` (a configured service that runs executions), `Service` (any service's
tracer on the same clock and exporter), `ExecutionRun` and `ShardRun` (context managers).

    jt = Jobtrace(url="http://console:8000", token="jt_...", namespace="payments", service_name="billing")
    with jt.execution("settlement-migration", trigger="scheduled") as run:
        for i, account in enumerate(accounts):
            with run.shard(f"account-{account}", labels={"account": account}, index=i, raise_errors=False):
                migrate(account)
    jt.shutdown()
"""

from __future__ import annotations

import atexit
import contextvars
import functools
import inspect
import logging
import random
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal, ParamSpec, TypeVar

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from jobtrace_sdk import conventions as conv
from jobtrace_sdk.clock import Clock, WallClock, rfc3339, to_ns
from jobtrace_sdk.config import Config
from jobtrace_sdk.propagation import Envelope, extract_context, producer_context, producer_link
from jobtrace_sdk.records import EXECUTIONS, MESSAGES, SHARDS, RecordSender
from jobtrace_sdk.sampling import PolicyCache, SamplingPolicy, decide
from jobtrace_sdk.tracing import SeededIdGenerator, build_provider, export_processor, root_decision

logger = logging.getLogger("jobtrace.sdk")

P = ParamSpec("P")
R = TypeVar("R")
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


class Service:
    """A service's tracer: spans with times from the shared clock, exported over OTLP/HTTP."""

    def __init__(self, provider: TracerProvider, clock: Clock, name: str) -> None:
        self.provider = provider
        self.clock = clock
        self.name = name
        self.tracer = provider.get_tracer("jobtrace.sdk")

    @contextmanager
    def span(
        self,
        name: str,
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        context: Context | None = None,
        links: Sequence[Link] | None = None,
    ) -> Iterator[Span]:
        """A span around the block; an exception escaping it is recorded (type, message, stacktrace) and marks
        the span as an error, then propagates."""
        parent = context if context is not None else otel_context.get_current()
        span = self.tracer.start_span(
            name,
            context=parent,
            kind=kind,
            attributes=dict(attributes or {}),
            links=list(links or ()),
            start_time=self.clock.now_ns(),
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            yield span
        except BaseException as exc:
            span.record_exception(exc, timestamp=self.clock.now_ns(), escaped=True)
            span.set_status(Status(StatusCode.ERROR, _error_text(exc)))
            raise
        finally:
            otel_context.detach(token)
            span.end(end_time=self.clock.now_ns())

    @contextmanager
    def server_span(
        self, name: str, headers: Mapping[str, str], *, attributes: Mapping[str, Any] | None = None
    ) -> Iterator[Span]:
        """The server side of a call: continues the caller's trace and baggage from its request headers."""
        with self.span(name, kind=SpanKind.SERVER, attributes=attributes, context=extract_context(headers)) as span:
            yield span


class Jobtrace(Service):
    """A configured worker or scheduler: runs executions and shards, reports them, exports their spans."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        url: str | None = None,
        token: str | None = None,
        namespace: str | None = None,
        service_name: str | None = None,
        worker: str | None = None,
        clock: Clock | None = None,
        exporter: SpanExporter | None = None,
        seed: int | None = None,
        resource_attributes: dict[str, str] | None = None,
        **config_overrides: Any,
    ) -> None:
        if config is None:
            config = Config.from_env(
                url=url,
                token=token,
                namespace=namespace,
                service_name=service_name,
                worker=worker,
                **config_overrides,
            )
        self.config = config
        self.rng = random.Random(seed)
        self._seed = seed
        self._resource_attributes = dict(resource_attributes or {})
        self._id_generator: IdGenerator = SeededIdGenerator(seed) if seed is not None else RandomIdGenerator()
        self.records = RecordSender(config)
        self.policies = PolicyCache(config)
        self._services: dict[str, Service] = {}
        self._lock = threading.Lock()
        self._processor = export_processor(config, exporter)
        provider = self._provider(config.service_name)
        super().__init__(provider, clock or WallClock(), config.service_name)
        self._services[config.service_name] = self
        self._closed = False
        # A process that forgets shutdown() still sends what is buffered, for at most config.exit_timeout.
        atexit.register(_shutdown_at_exit, weakref.ref(self))

    def _provider(self, service_name: str) -> TracerProvider:
        return build_provider(
            service_name,
            self._processor,
            resource_attributes=self._resource_attributes,
            id_generator=self._id_generator,
        )

    def service(self, name: str) -> Service:
        """Another service's tracer on the same clock and exporter (a sidecar for a service, or a simulation)."""
        with self._lock:
            if name not in self._services:
                self._services[name] = Service(self._provider(name), self.clock, name)
            return self._services[name]

    # --- executions ------------------------------------------------------------------------------------

    def execution(
        self,
        job: str,
        *,
        execution_id: str | None = None,
        trigger: str = "scheduled",
        attempt: int = 1,
        params: Mapping[str, Any] | None = None,
        worker: str | None = None,
        scheduled_at: datetime | int | None = None,
        envelope: Envelope | None = None,
        continue_trace: bool = False,
        context: Context | None = None,
        links: Sequence[Link] | None = None,
        namespace: str | None = None,
        sampled: bool | None = None,
        span_name: str | None = None,
    ) -> ExecutionRun:
        """An execution of `job`: a context manager that starts its root span and reports its record.

        envelope: the message that triggered it; its fields go on the record and the root span. The execution
            starts a new trace linked to the producer's span, or continues the producer's trace when
            `continue_trace` is true.
        context: a parent context (e.g. extracted from an incoming request): the execution joins that trace
            and inherits its sampling decision.
        sampled: force the decision; by default manual runs are sampled and others follow the job's policy.
        """
        return ExecutionRun(
            self,
            job=job,
            namespace=namespace if namespace is not None else self.config.namespace,
            execution_id=execution_id or uuid.uuid4().hex,
            trigger=trigger,
            attempt=attempt,
            params=dict(params or {}),
            worker=worker if worker is not None else self.config.worker,
            scheduled_at=to_ns(scheduled_at) if isinstance(scheduled_at, datetime) else scheduled_at,
            envelope=envelope,
            continue_trace=continue_trace,
            context=context,
            links=list(links or ()),
            sampled=sampled,
            span_name=span_name or job,
        )

    def job(self, name: str | None = None, **execution_options: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorator: every call of the function is one execution (options as for `execution`).

        The running execution is `jobtrace_sdk.current_execution()` inside the function."""

        def decorate(fn: Callable[P, R]) -> Callable[P, R]:
            job_name = name or fn.__name__

            @functools.wraps(fn)
            def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
                options = dict(execution_options)
                if "params" not in options:
                    options["params"] = {k: _json_safe(v) for k, v in kwargs.items()}
                with self.execution(job_name, **options):
                    return fn(*args, **kwargs)

            return wrapper

        return decorate

    def joined_execution(self, headers: Mapping[str, str]) -> ExecutionRun:
        """The execution a task belongs to when its shards run on another worker (MapReduce over a queue).

        The coordinator sends `inject_headers()` with each task; here they give the execution's identity (from
        the job baggage) and its span (from `traceparent`), so `run.shard(...)` works as it does in-process. The
        execution's own record stays the coordinator's to report; the sampling decision is the coordinator's."""
        context = extract_context(headers)
        entries = {k: str(v) for k, v in baggage.get_all(context).items()}
        if not entries.get(conv.JOB_NAME) or not entries.get(conv.JOB_EXECUTION_ID):
            raise ValueError("these headers carry no job baggage (job.name, job.execution.id): use inject_headers()")
        try:
            attempt = int(entries.get(conv.JOB_ATTEMPT, "1"))
        except ValueError:
            attempt = 1
        run = self.execution(
            entries[conv.JOB_NAME],
            execution_id=entries[conv.JOB_EXECUTION_ID],
            namespace=entries.get(conv.JOB_NAMESPACE, self.config.namespace),
            trigger=entries.get(conv.JOB_TRIGGER, "scheduled"),
            attempt=attempt,
        )
        run.span = trace.get_current_span(context)
        run.trace_id, run.span_id = _hex_ids(run.span)
        run.sampled = run.span.get_span_context().trace_flags.sampled
        run.context = context
        run.joined = True
        return run

    def sampling_policy(self, job: str, namespace: str | None = None) -> SamplingPolicy:
        return self.policies.get(namespace if namespace is not None else self.config.namespace, job)

    # --- messages ----------------------------------------------------------------------------------------

    def publish(self, envelope: Envelope) -> Envelope:
        """Report a published (or consumed) envelope to POST /api/v1/messages (in the background)."""
        self.records.submit(MESSAGES, envelope.message_record())
        return envelope

    # --- lifecycle ---------------------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Send what is buffered (spans and records), waiting at most `timeout` seconds in all."""
        done = threading.Event()
        ok = {"spans": True}

        def flush_spans() -> None:
            if self._processor is not None:
                ok["spans"] = self._processor.force_flush()
            done.set()

        thread = threading.Thread(target=flush_spans, name="jobtrace-flush", daemon=True)
        thread.start()
        finished = done.wait(timeout)
        records_ok = self.records.flush(timeout=max(timeout / 2, 0.1) if not finished else timeout)
        return finished and ok["spans"] and records_ok

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Flush, then stop exporting. Bounded by `timeout`: a console that is down does not hold the process."""
        if self._closed:
            return True
        self._closed = True
        flushed = self.flush(timeout)
        if isinstance(self._processor, BatchSpanProcessor):
            _shutdown_bounded(self._processor, timeout_millis=200 if not flushed else 1000)
        elif self._processor is not None:
            self._processor.shutdown()
        self.records.close(timeout=0.1 if not flushed else 1.0)
        return flushed

    def __enter__(self) -> Jobtrace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # --- internal ------------------------------------------------------------------------------------------

    def _base_record(self, namespace: str, job: str, execution_id: str) -> dict[str, Any]:
        record: dict[str, Any] = {"job": job, "execution_id": execution_id}
        if namespace:
            record["namespace"] = namespace
        return record


def _shutdown_at_exit(ref: weakref.ref[Jobtrace]) -> None:
    jt = ref()
    if jt is not None and not jt._closed:
        jt.shutdown(timeout=jt.config.exit_timeout)


def _shutdown_bounded(processor: BatchSpanProcessor, timeout_millis: int) -> None:
    """BatchSpanProcessor.shutdown() waits up to 30 s; its inner processor takes a bound (SDK >= 1.33)."""
    inner = getattr(processor, "_batch_processor", None)
    if inner is not None and "timeout_millis" in inspect.signature(inner.shutdown).parameters:
        inner.shutdown(timeout_millis=timeout_millis)
    else:
        processor.shutdown()


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return repr(value)


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
