"""OTLP JSON out: AnyValues (`any_value`, `key_values`; the demo's hand-rolled emitter uses them too), and a stored
trace as an ExportTraceServiceRequest, for the trace page's download link. Pure."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


def any_value(value: Any) -> dict[str, Any]:
    """A decoded attribute value back to an OTLP AnyValue (JSON mapping: 64-bit ints as strings)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": key_values(value)}}
    if value is None:
        return {}
    return {"stringValue": str(value)}


def key_values(attributes: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [{"key": str(k), "value": any_value(v)} for k, v in (attributes or {}).items()]


def _span(s: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": s.trace_id,
        "spanId": s.span_id,
        "name": s.name,
        "kind": int(s.kind),
        "startTimeUnixNano": str(s.start_ns),
        "endTimeUnixNano": str(s.start_ns + s.duration_ns),
        "attributes": key_values(s.attributes),
        "events": [
            {
                "timeUnixNano": str(e.get("time_ns", 0)),
                "name": e.get("name", ""),
                "attributes": key_values(e.get("attributes")),
            }
            for e in (s.events or [])
            if isinstance(e, dict)
        ],
        "links": [
            {
                "traceId": link.get("trace_id", ""),
                "spanId": link.get("span_id", ""),
                "traceState": link.get("trace_state", ""),
                "attributes": key_values(link.get("attributes")),
            }
            for link in (s.links or [])
            if isinstance(link, dict)
        ],
        "status": {"code": int(s.status_code), **({"message": s.status_message} if s.status_message else {})},
    }
    if s.parent_span_id:
        out["parentSpanId"] = s.parent_span_id
    if s.trace_state:
        out["traceState"] = s.trace_state
    if s.flags:
        out["flags"] = s.flags
    return out


def otlp_json(spans: Iterable[Any]) -> dict[str, Any]:
    """Spans (model instances or anything with the same fields) grouped by resource, then by scope."""
    resources: dict[str, dict[str, Any]] = {}
    scopes: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for s in spans:
        rkey = json.dumps(s.resource or {}, sort_keys=True)
        skey = json.dumps(s.scope or {}, sort_keys=True)
        if rkey not in resources:
            resources[rkey] = {"resource": {"attributes": key_values(s.resource)}, "scopeSpans": []}
        if (rkey, skey) not in scopes:
            scope = s.scope or {}
            spans_list: list[dict[str, Any]] = []
            scopes[(rkey, skey)] = spans_list
            resources[rkey]["scopeSpans"].append(
                {
                    "scope": {
                        "name": scope.get("name", ""),
                        "version": scope.get("version", ""),
                        "attributes": key_values(scope.get("attributes")),
                    },
                    "spans": spans_list,
                }
            )
        scopes[(rkey, skey)].append(_span(s))
    return {"resourceSpans": list(resources.values())}
