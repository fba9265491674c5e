"""OTLP/HTTP logs receiver: `POST /v1/logs`, as the OpenTelemetry protocol specification describes.

- 200 with an ExportLogsServiceResponse; `partial_success` (rejected_log_records, error_message) when some records
  were invalid and the rest were stored.
- 400 with a google.rpc.Status for a body that does not decode as an ExportLogsServiceRequest: nothing stored.
- What every OTLP signal shares (content types, gzip, body limits compressed and inflated, tokens with the ingest
  scope, 503 + Retry-After when the database is unavailable) is traces/otlp_http.py, as for /v1/traces.

The view adapts HTTP only: parsing is traces/logs/ingest.py, storing traces/logs/store.py.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from jobs.models import ApiToken
from traces import otlp_http
from traces.logs.ingest import ParseError, parse_logs
from traces.logs.store import store_logs


@csrf_exempt
def logs_view(request: HttpRequest) -> HttpResponse:
    return otlp_http.receive(request, "/v1/logs", _store)


def _store(token: ApiToken, body: bytes, json_body: bool) -> HttpResponse:
    try:
        parsed = parse_logs(body, json_body)
    except ParseError as exc:
        return otlp_http.undecodable(str(exc), json_body)
    except RecursionError:
        return otlp_http.undecodable("The body nests too deeply to decode.", json_body)
    if parsed.records:
        store_logs(token.namespace_id, parsed.records)
    reply = ExportLogsServiceResponse()
    if parsed.rejected:
        reply.partial_success.rejected_log_records = parsed.rejected
        reply.partial_success.error_message = parsed.error_message
    return otlp_http.export_response(reply, json_body)
