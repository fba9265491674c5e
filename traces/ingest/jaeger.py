"""Jaeger query-service JSON (the v1 "internal" API, `GET /api/traces...`) in every shape real files have.

Shapes: the envelope `{"data": [trace, ...], "errors": ...}`, a single trace object `{"traceID", "spans",
"processes"}`, a bare array of spans each with an embedded `process`, and `{"spans": [...]}`.

Quirks handled (each present in shared/fixtures/jaeger_api_v1): microsecond times; CHILD_OF and FOLLOWS_FROM
references (the first CHILD_OF within the trace is the parent; FOLLOWS_FROM and any reference into another
trace become links, with `ref_type`); the `processes` map or an embedded `process`; tag types string, bool,
int64, float64 and binary (base64), int64 beyond 2^53 written as a string, booleans written as "true"; ids
without leading zeros (left-padded to 16/32); ids that are not hex at all (`trace-123`: hashed to a
deterministic hex id, the original kept in `jaeger.original_trace_id`/`jaeger.original_span_id`); duplicate span
ids (the writer keeps the first); span and trace `warnings` (kept in `jaeger.warnings` and reported).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from traces.ingest.spans import (
    UNKNOWN_SERVICE,
    Extractor,
    ParsedSpan,
    ParseError,
    ParseResult,
    hashed_id,
    hex_id,
    is_zero,
    times_error,
)

_KINDS = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_STATUS = {"unset": 0, "ok": 1, "error": 2}


def _tag_value(tag: Mapping[str, Any]) -> Any:
    value = tag.get("value")
    kind = str(tag.get("type") or tag.get("vType") or "string").lower()
    if kind == "bool":
        return value if isinstance(value, bool) else str(value).strip().lower() == "true"
    if kind == "int64":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value).strip())
        except ValueError:
            return value
    if kind == "float64":
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return value
    if kind == "binary":
        return str(value)  # base64, as in OTLP/JSON bytesValue
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _tags(tags: Any) -> dict[str, Any]:
    if not tags:
        return {}
    if isinstance(tags, Mapping):  # some exporters write tags as a plain object
        return dict(tags)
    if not isinstance(tags, list):
        raise ValueError("tags must be a list")
    out: dict[str, Any] = {}
    for tag in tags:
        if not isinstance(tag, Mapping) or not isinstance(tag.get("key"), str):
            raise ValueError("a tag has no string key")
        out[tag["key"]] = _tag_value(tag)
    return out


def _id(value: Any, width: int, kind: str, result: ParseResult, original: dict[str, str]) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        value = format(value, "x")
    if not isinstance(value, str) or not value:
        return None
    h = hex_id(value, width)
    if h is not None:
        return h
    hashed = hashed_id(value, width)
    original[kind] = value
    result.warn(f"non-hex Jaeger ids (e.g. {value[:40]!r}) were hashed to hex; the original is kept as an attribute")
    return hashed


def _process(raw: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(raw, Mapping):
        return UNKNOWN_SERVICE, {"service.name": UNKNOWN_SERVICE}
    resource = _tags(raw.get("tags"))
    service = raw.get("serviceName") or resource.get("service.name") or UNKNOWN_SERVICE
    resource["service.name"] = str(service)
    return str(service), resource


def _span(
    s: Any,
    where: str,
    processes: Mapping[str, tuple[str, dict[str, Any]]],
    result: ParseResult,
) -> ParsedSpan | None:
    if not isinstance(s, Mapping):
        result.reject(f"{where}: not an object")
        return None
    original: dict[str, str] = {}
    trace_id = _id(s.get("traceID") or s.get("traceId"), 32, "trace", result, original)
    if trace_id is None or is_zero(trace_id):
        result.reject(f"{where}: traceID is missing or zero")
        return None
    span_id = _id(s.get("spanID") or s.get("spanId"), 16, "span", result, original)
    if span_id is None or is_zero(span_id):
        result.reject(f"{where}: spanID is missing or zero")
        return None
    name = s.get("operationName")
    if not isinstance(name, str) or not name:
        result.reject(f"{where}: operationName is missing")
        return None
    try:
        start_us = s.get("startTime") or 0
        duration_us = s.get("duration") or 0
        if isinstance(start_us, str):
            start_us = int(start_us)
        if isinstance(duration_us, str):
            duration_us = int(duration_us)
        if not isinstance(start_us, int | float) or not isinstance(duration_us, int | float):
            raise ValueError("startTime/duration must be numbers (microseconds)")
        if isinstance(start_us, bool) or isinstance(duration_us, bool):
            raise ValueError("startTime/duration must be numbers (microseconds)")
        start_ns = int(start_us) * 1000
        duration_ns = max(int(duration_us), 0) * 1000
        if (problem := times_error(start_ns, duration_ns)) is not None:
            raise ValueError(f"startTime/duration: {problem}")
        attributes = _tags(s.get("tags"))
        if "process" in s:
            service, resource = _process(s.get("process"))
        else:
            service, resource = processes.get(str(s.get("processID")), (UNKNOWN_SERVICE, {}))
            if not resource:
                resource = {"service.name": UNKNOWN_SERVICE}
        parent = ""
        links: list[dict[str, Any]] = []
        refs = s.get("references") or []
        if not isinstance(refs, list):
            raise ValueError("references must be a list")
        for ref in refs:
            if not isinstance(ref, Mapping):
                raise ValueError("a reference is not an object")
            ignored: dict[str, str] = {}
            rt = _id(ref.get("traceID") or ref.get("traceId"), 32, "trace", result, ignored)
            rs = _id(ref.get("spanID") or ref.get("spanId"), 16, "span", result, ignored)
            if rt is None or rs is None:
                raise ValueError("a reference has no traceID/spanID")
            ref_type = str(ref.get("refType") or "CHILD_OF").lower()
            if ref_type == "child_of" and rt == trace_id and not parent:
                parent = rs
            else:
                links.append(
                    {
                        "trace_id": rt,
                        "span_id": rs,
                        "trace_state": "",
                        "attributes": {"opentracing.ref_type": ref_type},
                        "ref_type": ref_type,
                    }
                )
        if not parent and s.get("parentSpanID"):
            parent = _id(s.get("parentSpanID"), 16, "parent", result, {}) or ""
            if is_zero(parent):
                parent = ""
        events = []
        for log in s.get("logs") or []:
            if not isinstance(log, Mapping):
                raise ValueError("a log is not an object")
            fields = _tags(log.get("fields"))
            ts = log.get("timestamp") or 0
            ts = int(ts) if isinstance(ts, int | float | str) and not isinstance(ts, bool) else 0
            event_name = fields.get("event") or fields.get("message") or "log"
            events.append({"time_ns": ts * 1000, "name": str(event_name), "attributes": fields})
    except (ValueError, TypeError, OverflowError) as exc:  # OverflowError: int(Infinity), which JSON may hold
        result.reject(f"{where}: {exc}")
        return None

    kind = _KINDS.get(str(attributes.pop("span.kind", "")).lower(), 0)
    status_code = 0
    status_message = ""
    otel_status = attributes.pop("otel.status_code", None)
    if otel_status is not None:
        status_code = _STATUS.get(str(otel_status).lower(), 0)
        status_message = str(attributes.pop("otel.status_description", "") or "")
    if attributes.get("error") is True or str(attributes.get("error", "")).lower() == "true":
        status_code = 2
    scope: dict[str, Any] = {}
    if "otel.scope.name" in attributes or "otel.library.name" in attributes:
        scope = {
            "name": str(attributes.pop("otel.scope.name", attributes.pop("otel.library.name", "")) or ""),
            "version": str(attributes.pop("otel.scope.version", attributes.pop("otel.library.version", "")) or ""),
        }
    trace_state = str(attributes.pop("w3c.tracestate", "") or "")
    if "trace" in original:
        attributes["jaeger.original_trace_id"] = original["trace"]
    if "span" in original:
        attributes["jaeger.original_span_id"] = original["span"]
    warnings = s.get("warnings")
    if warnings:
        attributes["jaeger.warnings"] = [str(w) for w in warnings] if isinstance(warnings, list) else [str(warnings)]
    flags = s.get("flags") or 0
    flags = flags if isinstance(flags, int) and not isinstance(flags, bool) and 0 <= flags < 2**31 else 0
    return ParsedSpan(
        trace_id,
        span_id,
        parent,
        name,
        service,
        kind,
        start_ns,
        duration_ns,
        status_code,
        status_message,
        attributes,
        resource,
        scope,
        events,
        links,
        trace_state,
        flags,
    )


def _trace(trace: Mapping[str, Any], where: str, result: ParseResult, extract: Extractor) -> None:
    raw_processes = trace.get("processes") or {}
    if not isinstance(raw_processes, Mapping):
        raise ParseError(f"{where}.processes must be an object")
    processes = {str(k): _process(v) for k, v in raw_processes.items()}
    spans = trace.get("spans") or []
    if not isinstance(spans, list):
        raise ParseError(f"{where}.spans must be a list")
    for i, s in enumerate(spans):
        span = _span(s, f"{where}.spans[{i}]", processes, result)
        if span is not None:
            extract.apply(span)
            result.spans.append(span)
    warnings = trace.get("warnings")
    if isinstance(warnings, list):
        for w in warnings:
            result.warn(f"Jaeger warning: {w}")


def parse_jaeger_document(doc: Any, aliases: Mapping[str, str] | None = None) -> ParseResult:
    """Any of the Jaeger v1 JSON shapes (already decoded) to spans."""
    result = ParseResult(format="jaeger-v1")
    extract = Extractor(aliases)
    if isinstance(doc, list):  # a bare array of spans with embedded processes (or of traces)
        if doc and all(isinstance(t, Mapping) and "spans" in t for t in doc):
            for ti, trace in enumerate(doc):
                _trace(trace, f"[{ti}]", result, extract)
        else:
            _trace({"spans": doc}, "", result, extract)
        return result
    if not isinstance(doc, Mapping):
        raise ParseError("a Jaeger JSON document must be an object or an array of spans")
    if "data" in doc:
        data = doc.get("data")
        if data is None:
            data = []
        if not isinstance(data, list):
            raise ParseError("data must be a list of traces")
        for ti, trace in enumerate(data):
            if not isinstance(trace, Mapping):
                raise ParseError(f"data[{ti}] must be a trace object")
            _trace(trace, f"data[{ti}]", result, extract)
        errors = doc.get("errors")
        if isinstance(errors, list):
            for e in errors:
                result.warn(f"Jaeger error: {e}")
        return result
    if "spans" in doc:
        _trace(doc, "", result, extract)
        return result
    raise ParseError("not a Jaeger document: expected 'data', 'spans' or an array of spans")


def looks_like_jaeger(doc: Any) -> bool:
    if isinstance(doc, list):
        first = next((x for x in doc if isinstance(x, Mapping)), None)
        return first is not None and ("spanID" in first or "operationName" in first or "spans" in first)
    if isinstance(doc, Mapping):
        if "data" in doc:
            return True
        spans = doc.get("spans")
        return isinstance(spans, list) and "resourceSpans" not in doc
    return False
