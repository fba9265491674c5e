"""Small builders for span-ingest tests: OTLP/JSON documents and parsed spans, as an exporter would send them."""

from __future__ import annotations

import secrets
from typing import Any

from traces.ingest import ParsedSpan, parse_document

T0 = 1_700_000_000_000_000_000  # ns


def tid() -> str:
    return secrets.token_hex(16)


def sid() -> str:
    return secrets.token_hex(8)


def _value(v: Any) -> dict[str, Any]:
    if v is None:
        return {}  # an AnyValue with nothing set
    if isinstance(v, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": _value(x)} for k, x in v.items()]}}
    if isinstance(v, list):
        return {"arrayValue": {"values": [_value(x) for x in v]}}
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": str(v)}


def otlp_span(
    trace_id: str,
    span_id: str,
    parent: str = "",
    name: str = "op",
    start_ms: int = 0,
    duration_ms: int = 10,
    attrs: dict[str, Any] | None = None,
    links: list[tuple[str, str]] | None = None,
    error: bool = False,
) -> dict[str, Any]:
    start = T0 + start_ms * 1_000_000
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + duration_ms * 1_000_000),
        "attributes": [{"key": k, "value": _value(v)} for k, v in (attrs or {}).items()],
        "links": [{"traceId": t, "spanId": s} for t, s in (links or [])],
        "status": {"code": 2, "message": "boom"} if error else {},
    }


def otlp_doc(*groups: tuple[str, list[dict[str, Any]]], resource: dict[str, Any] | None = None) -> dict[str, Any]:
    """groups: (service, spans) pairs, one ResourceSpans each."""
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                    + [{"key": k, "value": _value(v)} for k, v in (resource or {}).items()]
                },
                "scopeSpans": [{"scope": {"name": "tests"}, "spans": spans}],
            }
            for service, spans in groups
        ]
    }


def parsed(*groups: tuple[str, list[dict[str, Any]]], aliases: dict[str, str] | None = None) -> list[ParsedSpan]:
    result = parse_document(otlp_doc(*groups), aliases if aliases is not None else {})
    assert result.rejected == 0, result.errors
    return result.spans
