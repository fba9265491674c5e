"""OTLP logs: binary protobuf `ExportLogsServiceRequest` (or LogsData) and OTLP/JSON, parsed into `ParsedLog`.

Pure: bytes or decoded JSON in, plain dataclasses out; no database, no HTTP. The AnyValue and attribute readers and
the id and integer rules are traces/ingest/otlp.py's, so a log's attributes decode exactly as a span's do.

A record is rejected (counted in `partial_success.rejected_log_records`, named in its message) when its trace id is
neither empty nor 16 bytes, its span id neither empty nor 8 bytes, its times do not fit in 63 bits, its severity
number is outside 0-24, or a field has the wrong JSON type. The whole body is refused (400) when it does not decode.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from traces.ingest import decode_json
from traces.ingest.otlp import _get, _int, _json_attrs, _json_id, _json_value, _pb_attrs, _pb_value
from traces.ingest.spans import MAX_ERROR_MESSAGES, UNKNOWN_SERVICE, Extractor, ParseError, _as_text, is_zero

__all__ = ["BODY_TEXT_CHARS", "LogParseResult", "ParseError", "ParsedLog", "parse_logs", "parse_logs_document"]

BODY_TEXT_CHARS = 16_384  # what text search reads of a body (the body itself is kept whole)
MAX_SEVERITY = 24
_MAX_INT64 = 2**63 - 1
_ZERO32 = "0" * 32
_ZERO16 = "0" * 16

# SeverityNumber names, tolerated in OTLP/JSON where the specification writes integers.
SEVERITY_NAMES: dict[str, int] = {"SEVERITY_NUMBER_UNSPECIFIED": 0}
for _number, _name in enumerate(("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")):
    for _i in range(4):
        SEVERITY_NAMES[f"SEVERITY_NUMBER_{_name}{'' if _i == 0 else _i + 1}"] = _number * 4 + _i + 1


@dataclass(slots=True)
class ParsedLog:
    time_unix_nano: int
    observed_time_unix_nano: int
    severity_number: int
    severity_text: str
    body: Any  # an AnyValue decoded to JSON values (str, int, float, bool, list, dict) or None
    attributes: dict[str, Any]
    resource: dict[str, Any]  # shared between the records of one resource
    scope: dict[str, Any]
    service: str
    trace_id: str = ""  # 32 lower-case hex or ""
    span_id: str = ""  # 16 lower-case hex or ""
    flags: int = 0
    event_name: str = ""
    dropped_attributes_count: int = 0
    job_namespace: str = ""
    job_name: str = ""
    job_execution_id: str = ""
    job_shard_id: str = ""
    record_hash: str = ""

    @property
    def time_ns(self) -> int:
        """The ordering time: the record's time, else its observed time (0 when neither: the writer stamps it)."""
        return self.time_unix_nano or self.observed_time_unix_nano

    @property
    def body_text(self) -> str:
        return body_text(self.body)


def body_text(body: Any) -> str:
    """What text search reads of a body: a string as is, anything else as its JSON text; at most BODY_TEXT_CHARS."""
    if body is None:
        return ""
    text = body if isinstance(body, str) else _canonical(body).decode("utf-8", "replace")
    return text[:BODY_TEXT_CHARS].replace("\x00", "\ufffd")


@dataclass
class LogParseResult:
    records: list[ParsedLog] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    def reject(self, message: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_ERROR_MESSAGES:
            self.errors.append(message)

    @property
    def error_message(self) -> str:
        if not self.rejected:
            return ""
        more = self.rejected - len(self.errors)
        text = "; ".join(self.errors)
        return f"{self.rejected} log record(s) rejected: {text}" + (f" (and {more} more)" if more > 0 else "")


# --- the stable hash -------------------------------------------------------------------------------------------


def _canonical(value: Any) -> bytes:
    """JSON bytes with sorted keys (the same value always gives the same bytes)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except (orjson.JSONEncodeError, TypeError):  # integers beyond 64 bits, lone surrogates
        return json.dumps(value, sort_keys=True, default=str, ensure_ascii=True).encode()


def record_hash(log: ParsedLog, context: bytes) -> str:
    """128 bits of BLAKE2b over everything the record carries and its resource and scope (`context`, hashed once
    per scope). An exporter's retry sends the same bytes, so the same hash: the writer keeps the first copy."""
    h = hashlib.blake2b(context, digest_size=16)
    h.update(
        _canonical(
            [
                log.time_unix_nano,
                log.observed_time_unix_nano,
                log.severity_number,
                log.severity_text,
                log.body,
                log.attributes,
                log.trace_id,
                log.span_id,
                log.flags,
                log.event_name,
                log.dropped_attributes_count,
            ]
        )
    )
    return h.hexdigest()


def _context(resource: dict[str, Any], scope: dict[str, Any]) -> bytes:
    return hashlib.blake2b(_canonical([resource, scope]), digest_size=16).digest()


# --- shared checks ---------------------------------------------------------------------------------------------


class _Jobs:
    """job.* columns from a record's attributes, else its resource (the resource's computed once per resource).

    Per key as the span extractor reads them (traces/ingest/spans.py: the key or an alias, the record's attributes
    before its resource's), but only the four job keys, and with the resource's values cached: a record naming its
    own `job.execution.id` (as `jobtrace run` and the SDK send) costs four dict probes, not seven key walks."""

    def __init__(self) -> None:
        self.extractor = Extractor()
        self.keys = tuple(
            self.extractor.job_keys[k] for k in ("job.namespace", "job.name", "job.execution.id", "job.shard.id")
        )
        self.interesting = frozenset(key for keys in self.keys for key in keys)
        self.cache: dict[int, tuple[str, str, str, str]] = {}

    def apply(self, log: ParsedLog) -> None:
        key = id(log.resource)
        values = self.cache.get(key)
        if values is None:
            values = self.cache[key] = self.extractor.job_values({}, log.resource)
        attributes = log.attributes
        if attributes and not self.interesting.isdisjoint(attributes):
            values = tuple(  # type: ignore[assignment]
                _own(keys, attributes, limit) or inherited
                for keys, limit, inherited in zip(self.keys, _JOB_LIMITS, values, strict=True)
            )
        log.job_namespace, log.job_name, log.job_execution_id, log.job_shard_id = values


_JOB_LIMITS = (200, 200, 128, 128)  # the columns' lengths, as Extractor.job_values cuts them


def _own(keys: tuple[str, ...], attributes: Mapping[str, Any], limit: int) -> str:
    for key in keys:
        if key in attributes:
            text = _as_text(attributes[key])
            if text:
                return text[:limit]
    return ""


def _service(resource: Mapping[str, Any]) -> str:
    service = resource.get("service.name")
    return service[:255] if isinstance(service, str) and service else UNKNOWN_SERVICE


def _problem(log: ParsedLog) -> str | None:
    """Why a parsed record cannot be stored, or None."""
    if not 0 <= log.time_unix_nano <= _MAX_INT64 or not 0 <= log.observed_time_unix_nano <= _MAX_INT64:
        return "timeUnixNano and observedTimeUnixNano must fit in 63 bits"
    if not 0 <= log.severity_number <= MAX_SEVERITY:
        return f"severityNumber must be 0-{MAX_SEVERITY}, not {log.severity_number}"
    if not 0 <= log.flags < 2**32:
        return "flags must fit in 32 bits"
    if not 0 <= log.dropped_attributes_count < 2**31:
        return "droppedAttributesCount must fit in 31 bits"
    if len(log.severity_text) > 64:
        return "severityText is longer than 64 characters"
    return None


def _finish(log: ParsedLog, context: bytes, where: str, jobs: _Jobs, result: LogParseResult) -> None:
    problem = _problem(log)
    if problem is not None:
        result.reject(f"{where}: {problem}")
        return
    log.flags &= 0x7FFFFFFF
    jobs.apply(log)
    log.record_hash = record_hash(log, context)
    result.records.append(log)


# --- protobuf --------------------------------------------------------------------------------------------------


def parse_logs_protobuf(body: bytes) -> LogParseResult:
    """A binary ExportLogsServiceRequest (or LogsData: the same field numbers) to records."""
    request = ExportLogsServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ParseError(f"the body is not a protobuf ExportLogsServiceRequest ({exc})") from None
    result = LogParseResult()
    jobs = _Jobs()
    for ri, rl in enumerate(request.resource_logs):
        resource = _pb_attrs(rl.resource.attributes)
        service = _service(resource)
        for si, sl in enumerate(rl.scope_logs):
            sc = sl.scope
            scope: dict[str, Any] = {"name": sc.name, "version": sc.version} if (sc.name or sc.version) else {}
            if sc.attributes:
                scope["attributes"] = _pb_attrs(sc.attributes)
            context = _context(resource, scope)
            for li, r in enumerate(sl.log_records):
                where = f"resourceLogs[{ri}].scopeLogs[{si}].logRecords[{li}]"
                trace_id = r.trace_id.hex()
                span_id = r.span_id.hex()
                if trace_id and (len(trace_id) != 32 or is_zero(trace_id)):
                    if is_zero(trace_id):
                        trace_id = ""
                    else:
                        result.reject(f"{where}: traceId must be empty or 16 bytes")
                        continue
                if span_id and (len(span_id) != 16 or is_zero(span_id)):
                    if is_zero(span_id):
                        span_id = ""
                    else:
                        result.reject(f"{where}: spanId must be empty or 8 bytes")
                        continue
                log = ParsedLog(
                    r.time_unix_nano,
                    r.observed_time_unix_nano,
                    r.severity_number,
                    r.severity_text,
                    _pb_value(r.body) if r.HasField("body") else None,
                    _pb_attrs(r.attributes),
                    resource,
                    scope,
                    service,
                    trace_id,
                    span_id,
                    r.flags,
                    r.event_name,
                    r.dropped_attributes_count,
                )
                _finish(log, context, where, jobs, result)
    return result


# --- JSON ------------------------------------------------------------------------------------------------------


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string")
    return value


def _json_record(r: Any, where: str, resource: dict[str, Any], scope: dict[str, Any], service: str) -> ParsedLog:
    if not isinstance(r, Mapping):
        raise ValueError("not an object")
    trace_id = ""
    raw_trace = _get(r, "traceId", "trace_id")
    if raw_trace:
        scratch = _Scratch()
        trace_id = _json_id(raw_trace, 16, scratch) or ""  # type: ignore[arg-type]
        if not trace_id:
            raise ValueError("traceId must be empty or 32 hex characters")
        trace_id = "" if trace_id == _ZERO32 else trace_id
    span_id = ""
    raw_span = _get(r, "spanId", "span_id")
    if raw_span:
        scratch = _Scratch()
        span_id = _json_id(raw_span, 8, scratch) or ""  # type: ignore[arg-type]
        if not span_id:
            raise ValueError("spanId must be empty or 16 hex characters")
        span_id = "" if span_id == _ZERO16 else span_id
    severity = _get(r, "severityNumber", "severity_number")
    if isinstance(severity, str) and severity in SEVERITY_NAMES:
        severity = SEVERITY_NAMES[severity]
    body = r.get("body")
    if body is not None and not isinstance(body, Mapping):
        raise ValueError("body must be an AnyValue object")
    return ParsedLog(
        _int(_get(r, "timeUnixNano", "time_unix_nano"), "timeUnixNano"),
        _int(_get(r, "observedTimeUnixNano", "observed_time_unix_nano"), "observedTimeUnixNano"),
        _int(severity, "severityNumber"),
        _text(_get(r, "severityText", "severity_text"), "severityText"),
        _json_value(body) if body else None,
        _json_attrs(r.get("attributes")),
        resource,
        scope,
        service,
        trace_id,
        span_id,
        _int(r.get("flags"), "flags"),
        _text(_get(r, "eventName", "event_name"), "eventName"),
        _int(_get(r, "droppedAttributesCount", "dropped_attributes_count"), "droppedAttributesCount"),
    )


class _Scratch:
    """What `_json_id` warns into (base64 ids are tolerated for logs as for spans, silently)."""

    def warn(self, message: str) -> None:
        pass


def parse_logs_document(doc: Any) -> LogParseResult:
    """An OTLP/JSON ExportLogsServiceRequest/LogsData object (already decoded) to records."""
    if not isinstance(doc, Mapping):
        raise ParseError("an OTLP/JSON logs body must be a JSON object with resourceLogs")
    resource_logs = _get(doc, "resourceLogs", "resource_logs")
    result = LogParseResult()
    if resource_logs is None:
        return result  # an empty request succeeds
    if not isinstance(resource_logs, list):
        raise ParseError("resourceLogs must be a list")
    jobs = _Jobs()
    for ri, rl in enumerate(resource_logs):
        if not isinstance(rl, Mapping):
            raise ParseError(f"resourceLogs[{ri}] must be an object")
        try:
            res = rl.get("resource") or {}
            resource = _json_attrs(res.get("attributes") if isinstance(res, Mapping) else None)
        except (ValueError, TypeError) as exc:
            raise ParseError(f"resourceLogs[{ri}].resource: {exc}") from None
        service = _service(resource)
        scope_logs = _get(rl, "scopeLogs", "scope_logs") or []
        if not isinstance(scope_logs, list):
            raise ParseError(f"resourceLogs[{ri}].scopeLogs must be a list")
        for si, sl in enumerate(scope_logs):
            if not isinstance(sl, Mapping):
                raise ParseError(f"resourceLogs[{ri}].scopeLogs[{si}] must be an object")
            sc = sl.get("scope") or {}
            scope: dict[str, Any] = {}
            if isinstance(sc, Mapping):
                if sc.get("name") or sc.get("version"):
                    scope = {"name": str(sc.get("name") or ""), "version": str(sc.get("version") or "")}
                try:
                    if sc.get("attributes"):
                        scope["attributes"] = _json_attrs(sc.get("attributes"))
                except (ValueError, TypeError) as exc:
                    raise ParseError(f"resourceLogs[{ri}].scopeLogs[{si}].scope: {exc}") from None
            context = _context(resource, scope)
            records = _get(sl, "logRecords", "log_records") or []
            if not isinstance(records, list):
                raise ParseError(f"resourceLogs[{ri}].scopeLogs[{si}].logRecords must be a list")
            for li, r in enumerate(records):
                where = f"resourceLogs[{ri}].scopeLogs[{si}].logRecords[{li}]"
                try:
                    log = _json_record(r, where, resource, scope, service)
                except (ValueError, TypeError, AttributeError) as exc:
                    result.reject(f"{where}: {exc}"[:300])
                    continue
                _finish(log, context, where, jobs, result)
    return result


def parse_logs(body: bytes, json_body: bool) -> LogParseResult:
    """What POST /v1/logs reads: protobuf, or OTLP/JSON when `json_body`."""
    if not json_body:
        return parse_logs_protobuf(body)
    doc = decode_json(body)
    try:
        return parse_logs_document(doc)
    except ParseError:
        raise
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError, OverflowError) as exc:
        # A shape no rule above expected (fuzzing finds these): the whole document is refused, with the reason.
        raise ParseError(f"unreadable logs document ({type(exc).__name__}: {str(exc)[:200]})") from None
