"""Logs of a job, exported as OTLP log records (the OpenTelemetry SDK's logs API) to `<url>/v1/logs`.

- `ExecutionLogHandler`: a stdlib `logging` handler, installed on the root logger by `Jobtrace`, that exports the
  records logged inside an execution or shard (and only those: outside one, nothing is sent). Each record is
  stamped with the current span's trace and span ids (the execution's root span, or the shard's span) and the
  job.* attributes from the baggage the execution set (job.name, job.execution.id, job.shard.id, ...), so the
  console links it even before the spans arrive.
- `build_log_provider`: the LoggerProvider with a BatchLogRecordProcessor over the OTLP/HTTP log exporter.

The SDK's own loggers and the exporters' (jobtrace.sdk, opentelemetry, urllib3, requests) are never exported:
an export failure must not log itself into the next export.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import get_current_span

from jobtrace_sdk import conventions as conv
from jobtrace_sdk.config import Config
from jobtrace_sdk.runs import current_execution

MAX_LINE_BYTES = 16 * 1024  # a longer output line is sent in pieces of this size
_QUIET = ("jobtrace.sdk", "opentelemetry", "urllib3", "requests")
# Attributes every logging.LogRecord has: not exported as attributes (the message, time and level have fields).
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def severity_of(levelno: int) -> SeverityNumber:
    """stdlib levels to OTLP SeverityNumber, as the OpenTelemetry logging bridge maps them."""
    if levelno >= logging.CRITICAL:
        return SeverityNumber.FATAL
    if levelno >= logging.ERROR:
        return SeverityNumber.ERROR
    if levelno >= logging.WARNING:
        return SeverityNumber.WARN
    if levelno >= logging.INFO:
        return SeverityNumber.INFO
    return SeverityNumber.DEBUG if levelno >= logging.DEBUG else SeverityNumber.TRACE


def _ids() -> dict[str, Any]:
    """The current span's ids, as the logs API takes them (SDK 1.27 and later alike)."""
    ctx = get_current_span().get_span_context()
    return {"trace_id": ctx.trace_id, "span_id": ctx.span_id, "trace_flags": ctx.trace_flags}


def job_context() -> dict[str, Any] | None:
    """The job.* attributes of the execution or shard running here, from the current context; None outside one."""
    ctx = otel_context.get_current()
    execution_id = baggage.get_baggage(conv.JOB_EXECUTION_ID, ctx)
    if not execution_id or not get_current_span(ctx).get_span_context().is_valid:
        return None
    out: dict[str, Any] = {}
    for key in (conv.JOB_NAMESPACE, conv.JOB_NAME, conv.JOB_EXECUTION_ID, conv.JOB_SHARD_ID):
        value = baggage.get_baggage(key, ctx)
        if value:
            out[key] = str(value)
    return out


class ExecutionLogHandler(logging.Handler):
    """Exports the stdlib log records emitted inside an execution or shard."""

    def __init__(self, provider: LoggerProvider, level: int = logging.INFO, owner: object = None) -> None:
        super().__init__(level=level)
        self.provider = provider
        self.owner = owner  # the Jobtrace that installed it: another one's executions are that one's to export

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_QUIET):
            self._last_resort(record)
            return
        job = job_context()
        run = current_execution()
        if job is None or (run is not None and self.owner is not None and run.jt is not self.owner):
            self._last_resort(record)
            return
        try:
            attributes: dict[str, Any] = {
                k: v if isinstance(v, str | int | float | bool) else repr(v)
                for k, v in vars(record).items()
                if k not in _RESERVED
            }
            attributes.update(job)
            attributes["code.file.path"] = record.pathname
            attributes["code.function.name"] = record.funcName
            attributes["code.line.number"] = record.lineno
            attributes["logger.name"] = record.name
            if record.exc_info and record.exc_info[0] is not None:
                attributes["exception.type"] = record.exc_info[0].__name__
                attributes["exception.message"] = str(record.exc_info[1])
                attributes["exception.stacktrace"] = logging.Formatter().formatException(record.exc_info)
            self.provider.get_logger(record.name).emit(
                LogRecord(
                    timestamp=self._now(record),
                    observed_timestamp=time.time_ns(),
                    **_ids(),
                    severity_text=record.levelname,
                    severity_number=severity_of(record.levelno),
                    body=record.getMessage(),
                    attributes=attributes,
                )
            )
        except Exception:  # a log line must never break the job
            self.handleError(record)
        finally:
            self._last_resort(record)

    def _now(self, record: logging.LogRecord) -> int:
        """The record's time on its Jobtrace's clock (a simulated clock keeps a replayed run's lines in its time)."""
        clock = getattr(self.owner, "clock", None)
        if clock is not None and type(clock).__name__ != "WallClock":
            return int(clock.now_ns())
        return int(record.created * 1e9)

    def _last_resort(self, record: logging.LogRecord) -> None:
        """Python prints WARNING and above to stderr when no handler is configured (logging.lastResort): this
        handler on the root logger must not silence that."""
        last = logging.lastResort
        if last is not None and record.levelno >= last.level and logging.getLogger().handlers == [self]:
            last.handle(record)


def build_log_provider(
    config: Config, service_name: str, resource_attributes: dict[str, str], exporter: Any = None
) -> LoggerProvider | None:
    """The provider that ships log records: to `exporter`, or over OTLP/HTTP to config.logs_endpoint."""
    if exporter is None and config.export_logs and config.logs_endpoint:
        headers = dict(config.traces_headers) if config.traces_headers is not None else config.auth_headers()
        exporter = OTLPLogExporter(
            endpoint=config.logs_endpoint,
            headers=headers,
            timeout=config.export_timeout,
            compression=Compression.Gzip if config.compress_spans else Compression.NoCompression,
        )
    if exporter is None:
        return None
    provider = LoggerProvider(
        resource=Resource.create({"service.name": service_name, **resource_attributes}), shutdown_on_exit=False
    )
    if config.batch_spans:
        provider.add_log_record_processor(
            BatchLogRecordProcessor(
                exporter,
                max_queue_size=config.max_queue_size,
                max_export_batch_size=config.max_export_batch_size,
                schedule_delay_millis=500,
                export_timeout_millis=int(config.export_timeout * 1000),
            )
        )
    else:
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return provider


class OutputLogs:
    """A sink of `jobtrace run`'s output pump: each line of the command's stdout and stderr as a log record (INFO
    and ERROR, `log.iostream` stdout/stderr), stamped with the run's trace and span ids and job.* attributes.

    Bounded: at most `limit` lines a run; past it the lines are counted, not sent, and `close()` sends one record
    saying how many were cut. The pump feeds it from its own threads, where the run's context is not current:
    the ids are bound once the run's span exists (`bind`)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sent = 0
        self.cut = 0
        self._partial: dict[str, bytearray] = {}
        self._provider: LoggerProvider | None = None
        self._ids: dict[str, Any] = {}
        self._attributes: dict[str, Any] = {}
        self._lock = threading.Lock()

    def bind(self, provider: LoggerProvider | None, span: Any, attributes: dict[str, Any]) -> None:
        ctx = span.get_span_context()
        self._provider = provider
        self._ids = {"trace_id": ctx.trace_id, "span_id": ctx.span_id, "trace_flags": ctx.trace_flags}
        self._attributes = dict(attributes)

    def feed(self, stream: str, data: bytes) -> None:
        if self._provider is None:
            return
        with self._lock:
            buffer = self._partial.setdefault(stream, bytearray())
            buffer += data
            while True:
                newline = buffer.find(b"\n")
                if newline == -1:
                    if len(buffer) > MAX_LINE_BYTES:  # a line without an end: sent in pieces
                        self._line(stream, bytes(buffer[:MAX_LINE_BYTES]))
                        del buffer[:MAX_LINE_BYTES]
                        continue
                    break
                self._line(stream, bytes(buffer[:newline]))
                del buffer[: newline + 1]

    def _line(self, stream: str, raw: bytes) -> None:
        if self.sent >= self.limit:
            self.cut += 1
            return
        self.sent += 1
        self._emit(raw.decode("utf-8", errors="replace").rstrip("\r"), stream)

    def _emit(self, text: str, stream: str, extra: dict[str, Any] | None = None) -> None:
        assert self._provider is not None
        error = stream == "stderr"
        self._provider.get_logger("jobtrace.run").emit(
            LogRecord(
                timestamp=time.time_ns(),
                observed_timestamp=time.time_ns(),
                **self._ids,
                severity_text="ERROR" if error else "INFO",
                severity_number=SeverityNumber.ERROR if error else SeverityNumber.INFO,
                body=text,
                attributes={"log.iostream": stream, **self._attributes, **(extra or {})},
            )
        )

    def close(self) -> None:
        """The last partial lines, and what was cut, if anything."""
        if self._provider is None:
            return
        with self._lock:
            for stream, buffer in self._partial.items():
                if buffer:
                    self._line(stream, bytes(buffer))
                    buffer.clear()
            if self.cut:
                self._emit(
                    f"[jobtrace] output cut: {self.sent} lines sent, {self.cut} more not sent "
                    f"(at most {self.limit} lines a run)",
                    "stderr",
                    {"jobtrace.output.cut": self.cut},
                )
