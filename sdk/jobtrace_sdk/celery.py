"""Celery task runs as executions: `jobtrace_sdk.celery.instrument(app)` (needs `jobtrace-sdk[celery]`).

Every task run is an execution: job = the task's name, execution id = the task id, attempt = retries + 1,
trigger `retry` for a retry, `scheduled` for what celery beat sent, `api` otherwise; its status from the task's
state (SUCCESS succeeded, FAILURE failed, a time limit timed_out, RETRY failed with the reason, REJECTED or a revoke
cancelled, IGNORED succeeded), its error with the exception's type. The task message is the envelope:
message_id = the task id, correlation_id = Celery's root_id, causation_id = its parent_id; each publish is also
reported to POST /api/v1/messages. A root task has no parent: its cause is the `causation_id` header when the
publisher gives one (`send_task(..., headers={"causation_id": request_id})`), else the Jobtrace execution it was
published from, if any. The task members of a group or chord started from a task are also shards of
that task's execution (shard id = the member's task id, index = its place in the group).

Trace context travels in the message headers (`traceparent`, `tracestate`, `baggage`): the task's run continues
the publisher's trace. Beside `opentelemetry-instrumentation-celery` its "run/<task>" span is in the same trace,
as the parent of the execution's span (or, the first time the receivers are met in the other order, its child); the
execution's job attributes are set on it too. Receivers are global to the process, as Celery's signals are.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import Celery, signals, states
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from jobtrace_sdk import conventions as conv
from jobtrace_sdk.client import Jobtrace
from jobtrace_sdk.clock import rfc3339
from jobtrace_sdk.config import Config
from jobtrace_sdk.propagation import Envelope, extract_context, inject_headers, job_baggage
from jobtrace_sdk.records import SHARDS
from jobtrace_sdk.runs import ExecutionRun, current_execution

logger = logging.getLogger("jobtrace.sdk")

HEADER_TRIGGER = "jobtrace_trigger"  # set by the beat process's publish: "scheduled"
HEADER_SCHEDULED_AT = "jobtrace_scheduled_at"
HEADER_CAUSATION = "causation_id"  # a root task's cause (a request id), given by its publisher
_CARRIER = ("traceparent", "tracestate", "baggage")
_OTEL_MODULE = "opentelemetry.instrumentation.celery"
_OTEL_SPANS = "__otel_task_span"  # where opentelemetry-instrumentation-celery keeps a task's (span, ...)

_instrumentations: dict[int, CeleryInstrumentation] = {}


def instrument(
    app: Celery,
    jobtrace: Jobtrace | None = None,
    *,
    namespace: str | None = None,
    job_name: Callable[[Any], str] | None = None,
    params: Callable[[Any, tuple[Any, ...], dict[str, Any]], Mapping[str, Any]] | None = None,
    report_messages: bool = True,
) -> CeleryInstrumentation:
    """Hook Celery's signals (once per app) so every task run is an execution.

    jobtrace: the client to report with; by default one per process from the environment (JOBTRACE_URL, ...),
        made on first use, so a prefork pool's children each get their own.
    job_name: the job of a task (default: the task's name); params: the execution's params (default: none).
    report_messages: report each publish to POST /api/v1/messages (the execution records carry the envelope anyway).
    """
    existing = _instrumentations.get(id(app))
    if existing is not None:
        return existing
    instrumentation = CeleryInstrumentation(
        app, jobtrace, namespace=namespace, job_name=job_name, params=params, report_messages=report_messages
    )
    instrumentation.connect()
    _instrumentations[id(app)] = instrumentation
    return instrumentation


def uninstrument(app: Celery) -> None:
    instrumentation = _instrumentations.pop(id(app), None)
    if instrumentation is not None:
        instrumentation.disconnect()


@dataclass
class _TaskRun:
    run: ExecutionRun
    attached: bool  # our context is the one attached for the task body
    parent_marks: dict[str, str]  # job baggage of the publisher, when it is an execution
    group_index: int | None
    is_shard: bool  # a member of a group or chord that the publisher's execution started
    error: str = ""
    timed_out: bool = False


class CeleryInstrumentation:
    def __init__(
        self,
        app: Celery,
        jobtrace: Jobtrace | None,
        *,
        namespace: str | None,
        job_name: Callable[[Any], str] | None,
        params: Callable[[Any, tuple[Any, ...], dict[str, Any]], Mapping[str, Any]] | None,
        report_messages: bool,
    ) -> None:
        self.app = app
        self.namespace = namespace
        self.job_name = job_name or (lambda task: task.name)
        self.params = params
        self.report_messages = report_messages
        self._given = jobtrace
        self._client: Jobtrace | None = None
        self._client_pid = 0
        self._lock = threading.Lock()
        self._runs: dict[str, _TaskRun] = {}
        self._beat = threading.local()
        self._receivers: list[tuple[Any, Callable[..., None]]] = [
            (signals.before_task_publish, self._on_publish),
            (signals.task_prerun, self._on_prerun),
            (signals.task_failure, self._on_failure),
            (signals.task_retry, self._on_retry),
            (signals.task_postrun, self._on_postrun),
            (signals.task_revoked, self._on_revoked),
            (signals.beat_init, self._on_beat_init),
            (signals.worker_process_shutdown, self._on_shutdown),
            (signals.worker_shutdown, self._on_shutdown),
        ]
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: (me := ref()) is not None and me._after_fork())

    def connect(self) -> None:
        for signal, receiver in self._receivers:
            signal.connect(receiver, weak=False)

    def disconnect(self) -> None:
        for signal, receiver in self._receivers:
            signal.disconnect(receiver)

    @property
    def jobtrace(self) -> Jobtrace:
        """This process's client (a forked pool child makes its own: threads and sockets do not survive a fork)."""
        if self._given is not None:
            return self._given
        pid = os.getpid()
        with self._lock:
            if self._client is None or self._client_pid != pid:
                service = os.environ.get("OTEL_SERVICE_NAME") or self.app.main or "celery"
                self._client = Jobtrace(Config.from_env(namespace=self.namespace, service_name=service))
                self._client_pid = pid
            return self._client

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._runs = {}

    # --- the publishing side ----------------------------------------------------------------------------------

    def _on_beat_init(self, sender: Any = None, **kwargs: Any) -> None:
        # Beat publishes from the thread that sent beat_init (the `celery beat` process, or its embedded thread).
        self._beat.active = True

    def _on_publish(self, sender: Any = None, headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not isinstance(headers, dict) or not headers.get("id"):
            return  # task protocol 1 carries no headers of its own
        try:
            self._publish(str(sender or headers.get("task", "")), headers)
        except Exception:  # instrumentation never breaks a publish
            logger.exception("jobtrace: could not instrument the publish of task %s", headers.get("id"))

    def _publish(self, task_name: str, headers: dict[str, Any]) -> None:
        jt = self.jobtrace
        now = jt.clock.now_ns()
        if getattr(self._beat, "active", False):
            headers.setdefault(HEADER_TRIGGER, "scheduled")
            headers.setdefault(HEADER_SCHEDULED_AT, rfc3339(now))
        carrier = inject_headers()
        # opentelemetry-instrumentation-celery may have put its producer span's context here already: it stays.
        if "traceparent" not in headers:
            for key in ("traceparent", "tracestate"):
                if key in carrier:
                    headers[key] = carrier[key]
        if "baggage" not in headers and "baggage" in carrier:
            headers["baggage"] = carrier["baggage"]
        running = current_execution()
        if not headers.get("parent_id") and not headers.get(HEADER_CAUSATION) and running is not None:
            headers[HEADER_CAUSATION] = running.execution_id  # published by an execution that is no Celery task
        if not self.report_messages:
            return
        span_context = trace.get_current_span().get_span_context()
        task_id = str(headers["id"])
        jt.publish(
            Envelope(
                message_id=task_id,
                correlation_id=str(headers.get("root_id") or task_id),
                causation_id=str(headers.get("parent_id") or headers.get(HEADER_CAUSATION) or ""),
                trace_id=format(span_context.trace_id, "032x") if span_context.is_valid else "",
                span_id=format(span_context.span_id, "016x") if span_context.is_valid else "",
                event_type=task_name,
                operation="publish",
                published_at=rfc3339(now),
                producer_service=jt.config.service_name,
            )
        )

    # --- the worker side --------------------------------------------------------------------------------------

    def _on_prerun(self, sender: Any = None, task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
        if task is None or task_id is None:
            return
        try:
            self._start(task, str(task_id), kwargs.get("args") or (), kwargs.get("kwargs") or {})
        except Exception:
            logger.exception("jobtrace: could not start the execution of task %s", task_id)

    def _start(self, task: Any, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        jt = self.jobtrace
        request = task.request
        retries = int(getattr(request, "retries", 0) or 0)
        parent_id = str(getattr(request, "parent_id", None) or "")
        message = {key: str(value) for key in _CARRIER if (value := getattr(request, key, None))}
        # The parent: the span current for this task (opentelemetry-instrumentation-celery's, or an eager caller's),
        # else the publisher's context from the message.
        current = otel_context.get_current()
        parent_headers = inject_headers(context=current) if _current_span_valid(current) else message
        producer = trace.get_current_span(extract_context(message)).get_span_context()
        scheduled_at = getattr(request, HEADER_SCHEDULED_AT, None)
        envelope = Envelope(
            message_id=task_id,
            correlation_id=str(getattr(request, "root_id", None) or task_id),
            causation_id=str(parent_id or getattr(request, HEADER_CAUSATION, None) or ""),
            trace_id=format(producer.trace_id, "032x") if producer.is_valid else "",
            span_id=format(producer.span_id, "016x") if producer.is_valid else "",
            event_type=task.name,
            operation="process",
            headers=parent_headers,
        )
        run = jt.execution(
            self.job_name(task),
            execution_id=task_id,
            trigger=_trigger(request, retries),
            attempt=retries + 1,
            params=dict(self.params(task, tuple(args), dict(kwargs))) if self.params else None,
            worker=str(getattr(request, "hostname", None) or jt.config.worker),
            envelope=envelope,
            continue_trace=True,
            scheduled_at=_ns(scheduled_at),
        )
        run.__enter__()
        attached = True
        otel_span = _otel_task_span(task, task_id)
        if otel_span is not None and otel_span.is_recording():
            otel_span.set_attributes(run.job_attributes())  # the task's own span is the execution's too
        if _otel_prerun_follows(self._on_prerun):
            # opentelemetry-instrumentation-celery runs next and attaches its span from the request's headers: it
            # gets ours, so its span nests inside the execution; attaching ours too would leak one of the two.
            otel_context.detach(run._token)  # type: ignore[arg-type]
            run._token = None
            attached = False
            for key, value in inject_headers(context=run.context).items():
                setattr(request, key, value)
            # From the next task on, ours comes after it (and so the task's span is the execution's parent).
            signals.task_prerun.disconnect(self._on_prerun)
            signals.task_prerun.connect(self._on_prerun, weak=False)
        marks = job_baggage(message)
        group_index = getattr(request, "group_index", None)
        is_shard = bool(parent_id and getattr(request, "group", None)) and marks.get(conv.JOB_EXECUTION_ID) == parent_id
        task_run = _TaskRun(run, attached, marks, group_index if isinstance(group_index, int) else None, is_shard)
        with self._lock:
            self._runs[task_id] = task_run
        if is_shard:
            self._report_shard(task_run)

    def _on_failure(
        self, sender: Any = None, task_id: str | None = None, exception: BaseException | None = None, **kwargs: Any
    ) -> None:
        task_run = self._runs.get(str(task_id))
        if task_run is None or exception is None:
            return
        task_run.error = f"{type(exception).__name__}: {exception}"
        task_run.timed_out = isinstance(exception, TimeLimitExceeded | SoftTimeLimitExceeded)
        einfo = kwargs.get("einfo")
        attributes = {"exception.stacktrace": str(einfo.traceback)} if getattr(einfo, "traceback", None) else None
        task_run.run.span.record_exception(exception, attributes=attributes, escaped=True)

    def _on_retry(self, sender: Any = None, request: Any = None, reason: Any = None, **kwargs: Any) -> None:
        task_run = self._runs.get(str(getattr(request, "id", "")))
        if task_run is not None:
            cause = getattr(reason, "exc", None) or reason  # Retry carries the exception that caused it
            task_run.error = f"retrying: {type(cause).__name__}: {cause}"

    def _on_postrun(
        self, sender: Any = None, task_id: str | None = None, state: str | None = None, **kwargs: Any
    ) -> None:
        with self._lock:
            task_run = self._runs.pop(str(task_id), None)
        if task_run is None:
            return
        try:
            self._finish(task_run, state or "", kwargs.get("task") or sender)
        except Exception:
            logger.exception("jobtrace: could not finish the execution of task %s", task_id)

    def _finish(self, task_run: _TaskRun, state: str, task: Any) -> None:
        run = task_run.run
        otel_span = _otel_task_span(task, run.execution_id)  # still open when our receivers came first
        if otel_span is not None and otel_span.is_recording():
            otel_span.set_attributes(run.job_attributes())
        if state == states.SUCCESS or state == states.IGNORED:
            pass
        elif state == states.FAILURE:
            run.fail(task_run.error or "failed", status="timed_out" if task_run.timed_out else "failed")
        elif state == states.RETRY:
            run.fail(task_run.error or "retrying")
        elif state == states.REJECTED:
            run.fail(task_run.error or "rejected", status="cancelled")
        else:
            run.fail(task_run.error or f"ended in state {state}")
        run.span.set_attribute("celery.state", state)
        if run.status in ("failed", "timed_out"):
            run.span.set_status(Status(StatusCode.ERROR, run.error))
        if not task_run.attached or otel_context.get_current() is not run.context:
            # Another receiver already restored (or replaced) the context: detaching ours now would bring it back.
            run._token = None
        run.__exit__(None, None, None)
        if task_run.is_shard:
            self._report_shard(task_run)

    def _on_revoked(self, sender: Any = None, request: Any = None, **kwargs: Any) -> None:
        """In the worker's main process: a revoked (or terminated, or expired) task: its execution is cancelled."""
        if request is None or not getattr(request, "id", None):
            return
        how = "expired" if kwargs.get("expired") else ("terminated" if kwargs.get("terminated") else "revoked")
        jt = self.jobtrace
        record: dict[str, Any] = {
            "job": getattr(request, "name", None) or getattr(request, "task_name", ""),
            "execution_id": str(request.id),
            "status": "cancelled",
            "error": how + (f" (signal {kwargs['signum']})" if kwargs.get("signum") else ""),
            "finished_at": rfc3339(jt.clock.now_ns()),
        }
        if jt.config.namespace:
            record["namespace"] = jt.config.namespace
        jt.records.submit("executions", record)

    def _on_shutdown(self, **kwargs: Any) -> None:
        client = self._given or self._client
        if client is not None and (self._given is not None or self._client_pid == os.getpid()):
            client.flush(timeout=5.0)

    # --- group members as shards ------------------------------------------------------------------------------

    def _report_shard(self, task_run: _TaskRun) -> None:
        run = task_run.run
        marks = task_run.parent_marks
        record: dict[str, Any] = {
            "job": marks.get(conv.JOB_NAME, ""),
            "execution_id": marks[conv.JOB_EXECUTION_ID],
            "shard_id": run.execution_id,
            "labels": {"task": run.job},
            "status": run.status,
            "worker": run.worker,
            "started_at": rfc3339(run.started_ns),
            "attempt": run.attempt,
            "error": run.error,
            "trace_id": run.trace_id,
            "span_id": run.span_id,
        }
        namespace = marks.get(conv.JOB_NAMESPACE) or run.namespace
        if namespace:
            record["namespace"] = namespace
        if task_run.group_index is not None:
            record["index"] = task_run.group_index
        if run.finished_ns is not None:
            record["finished_at"] = rfc3339(run.finished_ns)
        if record["job"]:
            self.jobtrace.records.submit(SHARDS, record)


def _trigger(request: Any, retries: int) -> str:
    if retries > 0:
        return "retry"
    if getattr(request, HEADER_TRIGGER, None) == "scheduled" or getattr(request, "periodic_task_name", None):
        return "scheduled"  # our beat mark, or django-celery-beat's header
    return "api"


def _ns(value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def _current_span_valid(context: Any) -> bool:
    return trace.get_current_span(context).get_span_context().is_valid


def _otel_task_span(task: Any, task_id: str) -> Any:
    """opentelemetry-instrumentation-celery's span of this task run, when it made one already."""
    spans = getattr(task, _OTEL_SPANS, None)
    if not isinstance(spans, dict):
        return None
    entry = spans.get((task_id, False))
    return entry[0] if isinstance(entry, tuple) and entry else None


def _otel_prerun_follows(ours: Callable[..., None]) -> bool:
    """True when an opentelemetry-instrumentation-celery receiver comes after ours in task_prerun."""
    seen = False
    for _, receiver in list(signals.task_prerun.receivers):
        if isinstance(receiver, weakref.ReferenceType):
            receiver = receiver()
        if receiver == ours:
            seen = True
        elif seen and type(getattr(receiver, "__self__", None)).__module__.startswith(_OTEL_MODULE):
            return True
    return False
