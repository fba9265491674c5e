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
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from jobs.models import ApiToken
from traces import otlp_http
from traces.ingest import ParseError, parse_otlp
from traces.store import store_spans


@csrf_exempt
def traces_view(request: HttpRequest) -> HttpResponse:
    return otlp_http.receive(request, "/v1/traces", _store)


def _store(token: ApiToken, body: bytes, json_body: bool) -> HttpResponse:
    try:
        parsed = parse_otlp(body, json_body)
    except ParseError as exc:
        return otlp_http.undecodable(str(exc), json_body)
    except RecursionError:
        return otlp_http.undecodable("The body nests too deeply to decode.", json_body)

    if parsed.spans:
        store_spans(token.namespace_id, parsed.spans)
    reply = ExportTraceServiceResponse()
    if parsed.rejected:
        reply.partial_success.rejected_spans = parsed.rejected
        reply.partial_success.error_message = parsed.error_message
    return otlp_http.export_response(reply, json_body)
