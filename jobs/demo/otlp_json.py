"""A hand-rolled OTLP/JSON emitter: what a service in another language with no OpenTelemetry SDK might write.

It builds ExportTraceServiceRequest JSON as the OTLP specification spells it (hex ids, integer enums, times as
decimal strings) and posts it to /v1/traces with a bearer token. Deliberately independent of the Python SDK;
attribute values are encoded as AnyValues by traces/download.py, the encoder the trace download uses.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from traces.download import key_values

logger = logging.getLogger("jobtrace.demo")

KIND_INTERNAL, KIND_SERVER, KIND_CLIENT = 1, 2, 3
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2


@dataclass
class RawSpan:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    status: int = STATUS_UNSET
    status_message: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)


def request_body(service: str, spans: list[RawSpan], resource: dict[str, Any] | None = None) -> bytes:
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": key_values({"service.name": service, **(resource or {})})},
                "scopeSpans": [
                    {
                        "scope": {"name": "hand-rolled-otlp-json", "version": "0.1"},
                        "spans": [
                            {
                                "traceId": s.trace_id,
                                "spanId": s.span_id,
                                "parentSpanId": s.parent_span_id,
                                "name": s.name,
                                "kind": s.kind,
                                "startTimeUnixNano": str(s.start_ns),
                                "endTimeUnixNano": str(s.end_ns),
                                "attributes": key_values(s.attributes),
                                "events": [
                                    {
                                        "timeUnixNano": str(e["time_ns"]),
                                        "name": e["name"],
                                        "attributes": key_values(e.get("attributes", {})),
                                    }
                                    for e in s.events
                                ],
                                "status": {"code": s.status, "message": s.status_message},
                            }
                            for s in spans
                        ],
                    }
                ],
            }
        ]
    }
    return json.dumps(body).encode()


def emit(endpoint: str, token: str, service: str, spans: list[RawSpan], resource: dict[str, Any] | None = None) -> bool:
    """POST the spans; False (logged) when the collector cannot be reached. Never raises."""
    request = urllib.request.Request(  # noqa: S310 (the endpoint is the configured console, http or https)
        endpoint,
        data=request_body(service, spans, resource),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return 200 <= response.status < 300
    except OSError as exc:
        logger.warning("hand-rolled OTLP emitter: %s", exc)
        return False
