"""OTLP traces: binary protobuf `ExportTraceServiceRequest` and OTLP/JSON (plus Tempo's tolerated variant).

OTLP/JSON as the specification writes it: hex ids in any case, enums as integers, lowerCamelCase keys, 64-bit
integers as strings or numbers, unknown fields ignored. Tolerated beyond it (Tempo's trace-by-id API): a top-level
`batches` key, base64 ids, enum names as strings (`SPAN_KIND_CLIENT`, `STATUS_CODE_ERROR`), snake_case keys.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from functools import partial
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from traces.ingest.spans import (
    UNKNOWN_SERVICE,
    Extractor,
    ParsedSpan,
    ParseError,
    ParseResult,
    is_zero,
)

_KIND_NAMES = {
    "SPAN_KIND_UNSPECIFIED": 0,
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
}
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_MAX_INT64 = 2**63 - 1
_ZERO32 = "0" * 32
# Span flags: bits 0-7 trace flags, 8-9 the is-remote bits; the rest is reserved (and would not fit the column).
_FLAGS_MASK = 0x7FFFFFFF
_ZERO16 = "0" * 16


# --- protobuf --------------------------------------------------------------------------------------------------


def _pb_value(v: Any) -> Any:
    which = v.WhichOneof("value")
    if which == "string_value":
        return v.string_value
    if which == "int_value":
        return v.int_value
    if which == "bool_value":
        return v.bool_value
    if which == "double_value":
        return v.double_value
    if which == "array_value":
        return [_pb_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return None


_PB_SCALARS = frozenset({"string_value", "int_value", "bool_value", "double_value"})


def _pb_attrs(kvs: Any) -> dict[str, Any]:
    """KeyValue list to a dict. The hot path of ingest (each upb access costs ~0.15 µs): a non-empty string, the
    usual attribute, is read with one access; other scalars with one getattr; no call per attribute."""
    out: dict[str, Any] = {}
    scalars = _PB_SCALARS
    for kv in kvs:
        v = kv.value
        text = v.string_value
        if text:
            out[kv.key] = text
            continue
        which = v.WhichOneof("value")
        out[kv.key] = getattr(v, which) if which in scalars else _pb_value(v)
    return out


def parse_protobuf(body: bytes, aliases: Mapping[str, str] | None = None) -> ParseResult:
    """A binary ExportTraceServiceRequest (or TracesData: the same field numbers) to spans."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ParseError(f"the body is not a protobuf ExportTraceServiceRequest ({exc})") from None
    result = ParseResult(format="otlp-protobuf")
    apply = Extractor(aliases).apply
    append = result.spans.append
    attrs = _pb_attrs
    for ri, rs in enumerate(request.resource_spans):
        resource = _pb_attrs(rs.resource.attributes)
        service = resource.get("service.name")
        if not isinstance(service, str) or not service:
            service = UNKNOWN_SERVICE
        for si, ss in enumerate(rs.scope_spans):
            sc = ss.scope
            scope: dict[str, Any] = {"name": sc.name, "version": sc.version} if (sc.name or sc.version) else {}
            if sc.attributes:
                scope["attributes"] = _pb_attrs(sc.attributes)
            for pi, s in enumerate(ss.spans):
                trace_id = s.trace_id.hex()
                span_id = s.span_id.hex()
                parent = s.parent_span_id.hex()
                name = s.name
                if len(trace_id) != 32 or trace_id == _ZERO32:
                    result.reject(
                        f"resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]: traceId must be 16 non-zero bytes"
                    )
                    continue
                if len(span_id) != 16 or span_id == _ZERO16:
                    result.reject(f"resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]: spanId must be 8 non-zero bytes")
                    continue
                if parent and (len(parent) != 16 or parent == _ZERO16):
                    if is_zero(parent):
                        parent = ""
                    else:
                        result.reject(
                            f"resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]: parentSpanId must be empty or 8 bytes"
                        )
                        continue
                if not name:
                    result.reject(f"resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]: name is missing")
                    continue
                start = s.start_time_unix_nano
                end = s.end_time_unix_nano
                kind = s.kind
                status = s.status
                code = status.code
                if start > _MAX_INT64 or end > _MAX_INT64:
                    result.reject(f"resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]: times must fit in 63 bits")
                    continue
                if not 0 <= kind <= 5 or not 0 <= code <= 2:
                    result.reject(f"resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]: unknown kind or status code")
                    continue
                pb_events = s.events
                events = (
                    [
                        {"time_ns": e.time_unix_nano, "name": e.name, "attributes": attrs(e.attributes)}
                        for e in pb_events
                    ]
                    if pb_events
                    else []
                )
                pb_links = s.links
                links = (
                    [
                        {
                            "trace_id": link.trace_id.hex(),
                            "span_id": link.span_id.hex(),
                            "trace_state": link.trace_state,
                            "attributes": attrs(link.attributes),
                        }
                        for link in pb_links
                    ]
                    if pb_links
                    else []
                )
                if any(len(link["trace_id"]) != 32 or len(link["span_id"]) != 16 for link in links):
                    result.reject(
                        f"resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]: a link's traceId/spanId is not 16/8 bytes"
                    )
                    continue
                span = ParsedSpan(
                    trace_id,
                    span_id,
                    parent,
                    name,
                    service,
                    kind,
                    start,
                    end - start if end > start else 0,
                    code,
                    status.message,
                    attrs(s.attributes),
                    resource,
                    scope,
                    events,
                    links,
                    s.trace_state,
                    s.flags & _FLAGS_MASK,
                )
                apply(span)
                append(span)
    return result


# --- JSON ------------------------------------------------------------------------------------------------------


def _get(obj: Mapping[str, Any], camel: str, snake: str | None = None) -> Any:
    value = obj.get(camel)
    if value is None and snake is not None:
        value = obj.get(snake)
    return value


def _int(value: Any, what: str) -> int:
    """OTLP/JSON 64-bit integers: a JSON number or a decimal string."""
    if type(value) is str and value.isdigit():
        return int(value)
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an integer, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{what} must be an integer, not {value!r}"[:200])


def _enum(value: Any, names: Mapping[str, int], what: str, maximum: int) -> int:
    """An OTLP enum: its number, or (tolerated) its name, e.g. `SPAN_KIND_SERVER`."""
    if type(value) is int and 0 <= value <= maximum:
        return value
    if value is None or value == "":
        return 0
    if isinstance(value, str):
        if value in names:
            return names[value]
        try:
            value = _int(value, what)
        except ValueError:
            raise ValueError(_enum_problem(value, names, what, maximum)) from None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ValueError(_enum_problem(value, names, what, maximum))
    return value


def _enum_problem(value: Any, names: Mapping[str, int], what: str, maximum: int) -> str:
    """What an enum field accepts, said in full: `kind 'SERVER' is not a known value: use an integer 0-5 or …`."""
    shown = repr(value)[:80]
    return f"{what} {shown} is not a known value: use an integer 0-{maximum} or one of {', '.join(names)}"


def _json_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return None
    if "stringValue" in v:
        return str(v["stringValue"])
    if "intValue" in v:
        return _int(v["intValue"], "intValue")
    if "boolValue" in v:
        b = v["boolValue"]
        return b if isinstance(b, bool) else str(b).lower() == "true"
    if "doubleValue" in v:
        d = v["doubleValue"]
        return float(d) if isinstance(d, int | float | str) and not isinstance(d, bool) else None
    if "arrayValue" in v:
        values = (v["arrayValue"] or {}).get("values") or []
        return [_json_value(x) for x in values]
    if "kvlistValue" in v:
        return _json_attrs((v["kvlistValue"] or {}).get("values") or [])
    if "bytesValue" in v:
        return str(v["bytesValue"])
    for snake, conv in (("string_value", str), ("int_value", None), ("bool_value", bool), ("double_value", float)):
        if snake in v:
            return _int(v[snake], snake) if conv is None else conv(v[snake])
    return None


def _json_attrs(kvs: Any) -> dict[str, Any]:
    if not kvs:
        return {}
    if not isinstance(kvs, list):
        raise ValueError("attributes must be a list of {key, value}")
    out: dict[str, Any] = {}
    for kv in kvs:
        if type(kv) is not dict or type(kv.get("key")) is not str:
            raise ValueError("an attribute has no string key")
        v = kv.get("value")
        if type(v) is dict and len(v) == 1:  # the common case, decoded inline
            if "stringValue" in v and type(v["stringValue"]) is str:
                out[kv["key"]] = v["stringValue"]
                continue
            if "intValue" in v and type(v["intValue"]) is str:
                try:
                    out[kv["key"]] = int(v["intValue"])
                    continue
                except ValueError:
                    pass
        out[kv["key"]] = _json_value(v)
    return out


def _json_id(value: Any, nbytes: int, result: ParseResult) -> str | None:
    """A hex id (any case); tolerated: base64 (Tempo). None when neither."""
    if type(value) is not str or not value:
        return None
    if len(value) == nbytes * 2:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = b""
        if len(raw) == nbytes:
            return raw.hex()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != nbytes:
        return None
    result.warn("ids were base64 (as Tempo writes them), not hex as OTLP/JSON specifies; decoded")
    return raw.hex()


def _where(key: str, ri: int, si: int, pi: int) -> str:
    return f"{key}[{ri}].scopeSpans[{si}].spans[{pi}]"


def _json_span(
    s: Any, where: Any, service: str, resource: dict[str, Any], scope: dict[str, Any], result: ParseResult
) -> ParsedSpan | None:
    """One OTLP/JSON span; `where()` names it in a rejection (built only then: most spans are never rejected)."""
    if not isinstance(s, dict):
        result.reject(f"{where()}: not an object")
        return None
    trace_id = _json_id(s.get("traceId") or s.get("trace_id"), 16, result)
    if trace_id is None or trace_id == _ZERO32:
        result.reject(f"{where()}: traceId must be 32 hex characters (or 16 bytes in base64), not all zero")
        return None
    span_id = _json_id(s.get("spanId") or s.get("span_id"), 8, result)
    if span_id is None or span_id == _ZERO16:
        result.reject(f"{where()}: spanId must be 16 hex characters (or 8 bytes in base64), not all zero")
        return None
    raw_parent = s.get("parentSpanId") or s.get("parent_span_id")
    parent = ""
    if raw_parent:
        parent_id = _json_id(raw_parent, 8, result)
        if parent_id is None:
            result.reject(f"{where()}: parentSpanId must be empty, 16 hex characters or 8 bytes in base64")
            return None
        parent = "" if parent_id == _ZERO16 else parent_id
    name = s.get("name")
    if not isinstance(name, str) or not name:
        result.reject(f"{where()}: name is missing")
        return None
    try:
        start = _int(s.get("startTimeUnixNano") or s.get("start_time_unix_nano"), "startTimeUnixNano")
        end = _int(s.get("endTimeUnixNano") or s.get("end_time_unix_nano"), "endTimeUnixNano")
        if not 0 <= start <= _MAX_INT64 or not 0 <= end <= _MAX_INT64:
            raise ValueError("times must fit in 64 bits")
        kind = _enum(s.get("kind"), _KIND_NAMES, "kind", 5)
        status = s.get("status") or {}
        if not isinstance(status, dict):
            raise ValueError("status must be an object")
        status_code = _enum(status.get("code"), _STATUS_NAMES, "status.code", 2)
        status_message = status.get("message") or ""
        attributes = _json_attrs(s.get("attributes"))
        events = []
        raw_events = s.get("events")
        if raw_events and type(raw_events) is not list:
            raise ValueError("events must be a list")
        for e in raw_events or ():
            if not isinstance(e, dict):
                raise ValueError("an event is not an object")
            events.append(
                {
                    "time_ns": _int(_get(e, "timeUnixNano", "time_unix_nano"), "event timeUnixNano"),
                    "name": str(e.get("name") or ""),
                    "attributes": _json_attrs(e.get("attributes")),
                }
            )
        links = []
        raw_links = s.get("links")
        if raw_links and type(raw_links) is not list:
            raise ValueError("links must be a list")
        for link in raw_links or ():
            if not isinstance(link, dict):
                raise ValueError("a link is not an object")
            lt = _json_id(_get(link, "traceId", "trace_id"), 16, result)
            ls = _json_id(_get(link, "spanId", "span_id"), 8, result)
            if lt is None or ls is None:
                raise ValueError("a link's traceId/spanId must be 32/16 hex characters (or 16/8 bytes in base64)")
            links.append(
                {
                    "trace_id": lt,
                    "span_id": ls,
                    "trace_state": str(_get(link, "traceState", "trace_state") or ""),
                    "attributes": _json_attrs(link.get("attributes")),
                }
            )
        flags = _int(s.get("flags"), "flags") if "flags" in s else 0
        if not 0 <= flags < 2**32:
            raise ValueError("flags must fit in 32 bits")
        flags &= _FLAGS_MASK
    except (ValueError, TypeError, AttributeError) as exc:
        result.reject(f"{where()}: {exc}")
        return None
    return ParsedSpan(
        trace_id,
        span_id,
        parent,
        name,
        service,
        kind,
        start,
        max(end - start, 0),
        status_code,
        str(status_message),
        attributes,
        resource,
        scope,
        events,
        links,
        str(_get(s, "traceState", "trace_state") or ""),
        flags,
    )


def parse_json_document(doc: Any, aliases: Mapping[str, str] | None = None, fmt: str = "otlp-json") -> ParseResult:
    """An OTLP/JSON ExportTraceServiceRequest/TracesData object (already decoded) to spans."""
    if not isinstance(doc, Mapping):
        raise ParseError("an OTLP/JSON body must be a JSON object with resourceSpans")
    result = ParseResult(format=fmt)
    key = "resourceSpans"
    resource_spans = doc.get("resourceSpans")
    if resource_spans is None:
        for other in ("resource_spans", "batches"):
            if other in doc:
                key, resource_spans = other, doc[other]
                if other == "batches":
                    result.format = "tempo"
                    result.warn("the top-level key was 'batches' (Tempo), not 'resourceSpans'; read as resourceSpans")
                break
    if resource_spans is None:
        return result  # an empty request succeeds
    if not isinstance(resource_spans, list):
        raise ParseError(f"{key} must be a list")
    extract = Extractor(aliases)
    for ri, rs in enumerate(resource_spans):
        if not isinstance(rs, Mapping):
            raise ParseError(f"{key}[{ri}] must be an object")
        try:
            res = rs.get("resource") or {}
            resource = _json_attrs(res.get("attributes") if isinstance(res, Mapping) else None)
        except ValueError as exc:
            raise ParseError(f"{key}[{ri}].resource: {exc}") from None
        service = resource.get("service.name")
        if not isinstance(service, str) or not service:
            service = UNKNOWN_SERVICE
        scope_spans = _get(rs, "scopeSpans", "scope_spans")
        if scope_spans is None:
            scope_spans = rs.get("instrumentationLibrarySpans") or []
        if not isinstance(scope_spans, list):
            raise ParseError(f"{key}[{ri}].scopeSpans must be a list")
        for si, ss in enumerate(scope_spans):
            if not isinstance(ss, Mapping):
                raise ParseError(f"{key}[{ri}].scopeSpans[{si}] must be an object")
            sc = ss.get("scope") or ss.get("instrumentationLibrary") or {}
            scope: dict[str, Any] = {}
            if isinstance(sc, Mapping):
                if sc.get("name") or sc.get("version"):
                    scope = {"name": str(sc.get("name") or ""), "version": str(sc.get("version") or "")}
                try:
                    if sc.get("attributes"):
                        scope["attributes"] = _json_attrs(sc.get("attributes"))
                except ValueError as exc:
                    raise ParseError(f"{key}[{ri}].scopeSpans[{si}].scope: {exc}") from None
            spans = ss.get("spans") or []
            if not isinstance(spans, list):
                raise ParseError(f"{key}[{ri}].scopeSpans[{si}].spans must be a list")
            for pi, s in enumerate(spans):
                where = partial(_where, key, ri, si, pi)
                span = _json_span(s, where, service, resource, scope, result)
                if span is not None:
                    extract.apply(span)
                    result.spans.append(span)
    return result
