"""Zipkin v2 JSON (a list of spans; times in microseconds; 64- or 128-bit hex ids).

A CLIENT and a SERVER span may share one id (`shared: true` on the server side). Both are kept: the client keeps
the id, the shared server half gets a deterministic id derived from it (its parent is the client span) and
carries `zipkin.shared_span_id` with the original id. Children that name the shared id as parent stay under the
client half.
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
    times_error,
)

_KINDS = {"SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}


def parse_zipkin_document(doc: Any, aliases: Mapping[str, str] | None = None) -> ParseResult:
    if not isinstance(doc, list):
        raise ParseError("a Zipkin v2 document must be a JSON array of spans")
    result = ParseResult(format="zipkin-v2")
    extract = Extractor(aliases)
    resources: dict[tuple[str, str], dict[str, Any]] = {}
    for i, s in enumerate(doc):
        where = f"[{i}]"
        if not isinstance(s, Mapping):
            result.reject(f"{where}: not an object")
            continue
        trace_id = hex_id(s.get("traceId"), 32)
        span_id = hex_id(s.get("id"), 16)
        if trace_id is None or trace_id.count("0") == 32:
            result.reject(f"{where}: traceId must be 16 or 32 hex characters")
            continue
        if span_id is None or span_id.count("0") == 16:
            result.reject(f"{where}: id must be 16 hex characters")
            continue
        parent = hex_id(s.get("parentId"), 16) or "" if s.get("parentId") else ""
        name = s.get("name") or ""
        if not isinstance(name, str):
            result.reject(f"{where}: name must be a string")
            continue
        try:
            start_ns = int(s.get("timestamp") or 0) * 1000
            duration_ns = max(int(s.get("duration") or 0), 0) * 1000
            events = [
                {"time_ns": int(a.get("timestamp") or 0) * 1000, "name": str(a.get("value") or ""), "attributes": {}}
                for a in (s.get("annotations") or [])
                if isinstance(a, Mapping)
            ]
        except (TypeError, ValueError, OverflowError):  # OverflowError: int(Infinity), which JSON may hold
            result.reject(f"{where}: timestamp/duration/annotation timestamps must be integers (microseconds)")
            continue
        if (problem := times_error(start_ns, duration_ns)) is not None:
            result.reject(f"{where}: timestamp/duration: {problem}")
            continue
        local = s.get("localEndpoint") if isinstance(s.get("localEndpoint"), Mapping) else {}
        service = str(local.get("serviceName") or UNKNOWN_SERVICE)
        key = (service, str(local.get("ipv4") or local.get("ipv6") or ""))
        resource = resources.get(key)
        if resource is None:
            resource = {"service.name": service}
            if key[1]:
                resource["host.ip"] = key[1]
            resources[key] = resource
        tags = s.get("tags") if isinstance(s.get("tags"), Mapping) else {}
        attributes: dict[str, Any] = {str(k): v if isinstance(v, str) else str(v) for k, v in tags.items()}
        remote = s.get("remoteEndpoint")
        if isinstance(remote, Mapping) and remote.get("serviceName"):
            attributes["peer.service"] = str(remote["serviceName"])
        kind = _KINDS.get(str(s.get("kind") or "").upper(), 0)
        if s.get("shared") is True and kind == 2:
            attributes["zipkin.shared_span_id"] = span_id
            parent, span_id = span_id, hashed_id(f"{trace_id}/{span_id}/server", 16)
        status_code = 2 if "error" in attributes else 0
        span = ParsedSpan(
            trace_id,
            span_id,
            parent,
            name or "unknown",
            service,
            kind,
            start_ns,
            duration_ns,
            status_code,
            str(attributes.get("error", "")) if status_code else "",
            attributes,
            resource,
            {},
            events,
            [],
        )
        extract.apply(span)
        result.spans.append(span)
    return result


def looks_like_zipkin(doc: Any) -> bool:
    if not isinstance(doc, list):
        return False
    first = next((x for x in doc if isinstance(x, Mapping)), None)
    return first is not None and "traceId" in first and "id" in first and "spanID" not in first
