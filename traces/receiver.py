"""OTLP/HTTP trace receiver: `POST /v1/traces`, as the OpenTelemetry protocol specification describes.

- 200 with an ExportTraceServiceResponse; `partial_success` (rejected_spans, error_message) when some spans were
  invalid and the rest were stored.
- 400 with a google.rpc.Status for a body that does not decode as an ExportTraceServiceRequest.
- Everything every OTLP signal shares (content types, gzip, limits, tokens, 503 when the database is unavailable,
  never a 200 for spans that were not stored) is traces/otlp_http.py.

The view adapts HTTP only: parsing is traces/ingest, storing is traces/store.store_spans.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from jobs.models import ApiToken
from traces import otlp_http
from traces.ingest import ParseError, parse_otlp
from traces.otlp_http import INVALID_ARGUMENT, JSON, PROTOBUF, status_response
from traces.store import store_spans


@csrf_exempt
def traces_view(request: HttpRequest) -> HttpResponse:
    return otlp_http.receive(request, "/v1/traces", _store)


def _store(token: ApiToken, body: bytes, json_body: bool) -> HttpResponse:
    try:
        parsed = parse_otlp(body, json_body)
    except ParseError as exc:
        return status_response(400, INVALID_ARGUMENT, str(exc), json_body)
    except RecursionError:
        return status_response(400, INVALID_ARGUMENT, "The body nests too deeply to decode.", json_body)

    if parsed.spans:
        store_spans(token.namespace_id, parsed.spans)
    return _ok(parsed.rejected, parsed.error_message, json_body)


def _ok(rejected: int, message: str, json_body: bool) -> HttpResponse:
    reply = ExportTraceServiceResponse()
    if rejected:
        reply.partial_success.rejected_spans = rejected
        reply.partial_success.error_message = message
    if json_body:
        body = json_format.MessageToJson(reply, indent=None).encode() if rejected else b"{}"
        return HttpResponse(body, status=200, content_type=JSON)
    return HttpResponse(reply.SerializeToString(), status=200, content_type=PROTOBUF)
