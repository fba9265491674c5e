"""The SDK's entry point: `Jobtrace` (a configured service that runs executions), `Service` (any service's
tracer on the same clock and exporter). The runs it starts, `ExecutionRun` and `ShardRun` (context managers), are in
runs.py.

    jt = Jobtrace(url="http://console:8000", token="jt_...", namespace="payments", service_name="billing")
    with jt.execution("settlement-migration", trigger="scheduled") as run:
        for i, account in enumerate(accounts):
            with run.shard(f"account-{account}", labels={"account": account}, index=i, raise_errors=False):
                migrate(account)
    jt.shutdown()
"""

from __future__ import annotations

import atexit
import functools
import inspect
import logging
import random
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import requests
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from jobtrace_sdk import conventions as conv
from jobtrace_sdk.clock import Clock, WallClock, to_ns
from jobtrace_sdk.config import Config
from jobtrace_sdk.declare import JobDeclaration, declaration_body, declare_job
from jobtrace_sdk.logs import ExecutionLogHandler, build_log_provider
from jobtrace_sdk.propagation import Envelope, extract_context
from jobtrace_sdk.records import MESSAGES, RecordSender
from jobtrace_sdk.runs import ExecutionRun, ShardRun, _error_text, _hex_ids, current_execution
from jobtrace_sdk.sampling import PolicyCache, SamplingPolicy
from jobtrace_sdk.tracing import SeededIdGenerator, build_provider, export_processor

logger = logging.getLogger("jobtrace.sdk")

P = ParamSpec("P")
R = TypeVar("R")

# Re-exported: these lived here before runs.py.
__all__ = ["ExecutionRun", "Jobtrace", "Service", "ShardRun", "current_execution"]


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
        log_exporter: Any = None,
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
        self._declare_session = requests.Session()
        self._services: dict[str, Service] = {}
        self._lock = threading.Lock()
        self._processor = export_processor(config, exporter)
        provider = self._provider(config.service_name)
        super().__init__(provider, clock or WallClock(), config.service_name)
        self._services[config.service_name] = self
        self._closed = False
        # Python logging inside an execution or shard goes out as OTLP log records (jobtrace_sdk/logs.py).
        self.log_provider = build_log_provider(config, config.service_name, self._resource_attributes, log_exporter)
        self._log_handler: ExecutionLogHandler | None = None
        if self.log_provider is not None:
            self._log_handler = ExecutionLogHandler(self.log_provider, level=config.log_level, owner=self)
            logging.getLogger().addHandler(self._log_handler)
        # A process that forgets shutdown() still sends what is buffered, for at most config.exit_timeout.
        atexit.register(_shutdown_at_exit, weakref.ref(self))

    @property
    def log_handler(self) -> logging.Handler | None:
        """The handler that exports this client's execution logs (installed on the root logger; add it to a logger
        that does not propagate to have that logger's records exported too)."""
        return self._log_handler

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

    def declare_job(
        self,
        name: str,
        *,
        schedule: str | None = None,
        timezone: str | None = None,
        grace_seconds: int | None = None,
        max_runtime_seconds: int | None = None,
        kind: str | None = None,
        owner: str | None = None,
        description: str | None = None,
        labels: Mapping[str, Any] | None = None,
        namespace: str | None = None,
        timeout: float | None = None,
    ) -> JobDeclaration:
        """Declare `name` with its schedule: `PUT /api/v1/jobs/<ns>/<job>` with the fields given (a field left
        out keeps the value the console has). schedule: a cron expression or `@every 15m`; timezone: an IANA name.

        Waits for the answer (at most `timeout`, default `record_timeout`) and returns it as a `JobDeclaration`;
        a console that is down or refuses is logged and reported there, never raised."""
        body = declaration_body(
            schedule=schedule,
            timezone=timezone,
            grace_seconds=grace_seconds,
            max_runtime_seconds=max_runtime_seconds,
            kind=kind,
            owner=owner,
            description=description,
            labels=labels,
        )
        return declare_job(
            self.config,
            self._declare_session,
            namespace if namespace is not None else self.config.namespace,
            name,
            body,
            timeout=timeout if timeout is not None else self.config.record_timeout,
        )

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
        deadline = time.monotonic() + timeout
        done = threading.Event()
        ok = {"spans": True}

        def flush_spans() -> None:
            if self._processor is not None:
                ok["spans"] = self._processor.force_flush()
            if self.log_provider is not None:
                ok["spans"] = self.log_provider.force_flush(int(timeout * 1000)) and ok["spans"]
            done.set()

        thread = threading.Thread(target=flush_spans, name="jobtrace-flush", daemon=True)
        thread.start()
        finished = done.wait(timeout)
        # The records thread has been sending all along; it gets what is left of the same deadline.
        records_ok = self.records.flush(timeout=max(deadline - time.monotonic(), 0.0))
        return finished and ok["spans"] and records_ok

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Flush, then stop exporting. Bounded by `timeout` in all: a console that is down does not hold the process."""
        if self._closed:
            return True
        self._closed = True
        deadline = time.monotonic() + timeout
        self.records.hurry()
        flushed = self.flush(timeout)

        def left(cap: float) -> float:
            return min(max(deadline - time.monotonic(), 0.0), cap)

        if isinstance(self._processor, BatchSpanProcessor):
            _shutdown_bounded(self._processor, timeout_millis=int(1000 * left(1.0 if flushed else 0.2)))
        elif self._processor is not None:
            self._processor.shutdown()
        if self._log_handler is not None:
            logging.getLogger().removeHandler(self._log_handler)
        if self.log_provider is not None:
            _shutdown_logs_bounded(self.log_provider, left(1.0 if flushed else 0.2))
        self.records.close(timeout=left(1.0 if flushed else 0.1))
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


def _shutdown_logs_bounded(provider: Any, seconds: float) -> None:
    """LoggerProvider.shutdown() waits on its processors' threads: done on a daemon thread, waited for `seconds`."""
    thread = threading.Thread(target=provider.shutdown, name="jobtrace-logs-shutdown", daemon=True)
    thread.start()
    thread.join(seconds)


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return repr(value)
