"""POST /v1/logs as the OTLP/HTTP specification describes it, on the machinery /v1/traces uses."""

from __future__ import annotations

import gzip
import json

import pytest
from django.db import OperationalError
from django.test import Client
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from tests import factories
from traces.logs.models import LogRecord
from traces.logs.tests.builders import SPAN, SPEC_EXAMPLE, TRACE, line, request

PB = "application/x-protobuf"
JSON = "application/json"
T0 = 1_764_000_000_000_000_000

pytestmark = pytest.mark.django_db


def test_the_specification_example_is_kept_as_received(otlp, ns):
    response = otlp.post("/v1/logs", json.dumps(SPEC_EXAMPLE), content_type=JSON)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == JSON
    assert response.json() == {}
    record = LogRecord.objects.get(namespace=ns)
    assert (record.time_unix_nano, record.observed_time_unix_nano, record.time_ns) == (1544712660300000000,) * 3
    assert (record.severity_number, record.severity_text) == (10, "Information")
    assert record.body == "Example log record"
    assert record.body_text == "Example log record"
    assert (record.trace_id, record.span_id) == (TRACE, SPAN)
    assert record.service == "my.service"
    assert record.resource == {"service.name": "my.service"}
    assert record.scope == {
        "name": "my.library",
        "version": "1.0.0",
        "attributes": {"my.scope.attribute": "some scope attribute"},
    }
    assert record.attributes == {
        "string.attribute": "some string",
        "boolean.attribute": True,
        "int.attribute": 10,
        "double.attribute": 637.704,
        "array.attribute": ["many", "values"],
        "map.attribute": {"some.map.key": "some value"},
    }


def test_protobuf_keeps_every_field_and_any_body(otlp, ns):
    body = request(
        [
            line("plain text", T0, 9, severity_text="INFO", trace_id=TRACE, span_id=SPAN, flags=1),
            {"body": {"user": "ada", "n": 3, "tags": ["a", "b"]}, "time_unix_nano": T0 + 1, "event_name": "login"},
            {"body": [1, 2.5, True], "observed_time_unix_nano": T0 + 2, "severity_number": 17},
            {"attributes": {"k": "v"}, "time_unix_nano": T0 + 3},  # no body at all
        ]
    )
    response = otlp.post("/v1/logs", body, content_type=PB)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == PB
    assert not ExportLogsServiceResponse.FromString(response.content).HasField("partial_success")
    rows = list(LogRecord.objects.filter(namespace=ns).order_by("time_ns"))
    assert [r.body for r in rows] == ["plain text", {"user": "ada", "n": 3, "tags": ["a", "b"]}, [1, 2.5, True], None]
    assert (rows[0].severity_text, rows[0].trace_id, rows[0].span_id, rows[0].flags) == ("INFO", TRACE, SPAN, 1)
    assert rows[1].event_name == "login"
    assert '"user":"ada"' in rows[1].body_text
    assert (rows[2].time_unix_nano, rows[2].observed_time_unix_nano, rows[2].time_ns) == (0, T0 + 2, T0 + 2)
    assert rows[2].severity_number == 17
    assert rows[3].attributes == {"k": "v"}
    assert rows[0].scope == {"name": "jobtrace.tests", "version": "1.0"}


def test_exporter_retries_store_each_record_once(otlp, ns):
    body = request([line(f"line {i}", T0 + i) for i in range(50)])
    for _ in range(3):
        assert otlp.post("/v1/logs", body, content_type=PB).status_code == 200
    # a retry that overlaps a later batch: only the new records are added
    overlap = request([line(f"line {i}", T0 + i) for i in range(40, 60)])
    assert otlp.post("/v1/logs", overlap, content_type=PB).status_code == 200
    assert LogRecord.objects.filter(namespace=ns).count() == 60
    # the same batch in JSON is the same records: nothing new
    as_json = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "billing"}}]},
                "scopeLogs": [
                    {
                        "scope": {"name": "jobtrace.tests", "version": "1.0"},
                        "logRecords": [
                            {"timeUnixNano": str(T0), "severityNumber": 9, "body": {"stringValue": "line 0"}}
                        ],
                    }
                ],
            }
        ]
    }
    assert otlp.post("/v1/logs", json.dumps(as_json), content_type=JSON).status_code == 200
    assert LogRecord.objects.filter(namespace=ns).count() == 60


def test_gzip_bodies_are_inflated(otlp, ns):
    body = gzip.compress(request([line("zipped", T0)]))
    response = otlp.post("/v1/logs", body, content_type=PB, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200
    assert LogRecord.objects.get(namespace=ns).body == "zipped"


def test_invalid_records_give_partial_success_and_the_valid_ones_are_stored(otlp, ns):
    doc = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {"timeUnixNano": "1", "body": {"stringValue": "kept"}},
                            {"traceId": "xyz", "body": {"stringValue": "bad trace id"}},
                            {"severityNumber": 99},
                            {"timeUnixNano": "not a time"},
                            "not an object",
                            {"spanId": "abcd"},
                        ]
                    }
                ]
            }
        ]
    }
    response = otlp.post("/v1/logs", json.dumps(doc), content_type=JSON)
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "5"
    assert "logRecords[1]: traceId" in partial["errorMessage"]
    assert "severityNumber must be 0-24" in partial["errorMessage"]
    assert list(LogRecord.objects.filter(namespace=ns).values_list("body", "service")) == [("kept", "unknown_service")]

    pb = request([line("ok", T0), {"trace_id": "abcd", "body": "short trace id"}])
    response = otlp.post("/v1/logs", pb, content_type=PB)
    reply = ExportLogsServiceResponse.FromString(response.content)
    assert reply.partial_success.rejected_log_records == 1
    assert "traceId must be empty or 16 bytes" in reply.partial_success.error_message


@pytest.mark.parametrize(
    ("body", "content_type", "encoding"),
    [
        (b"\xff\xff\xff", PB, None),
        (b"{not json", JSON, None),
        (b'{"resourceLogs": {}}', JSON, None),
        (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": 3}]}]}', JSON, None),
        (b"[]", JSON, None),
        (b"not gzip", PB, "gzip"),
    ],
)
def test_undecodable_bodies_get_400_with_a_status_and_store_nothing(otlp, ns, body, content_type, encoding):
    extra = {"HTTP_CONTENT_ENCODING": encoding} if encoding else {}
    response = otlp.post("/v1/logs", body, content_type=content_type, **extra)
    assert response.status_code == 400
    if content_type == JSON:
        assert response.json()["code"] == 3
    else:
        assert status_pb2.Status.FromString(response.content).code == 3
    assert not LogRecord.objects.exists()


def test_an_empty_request_succeeds(otlp):
    # (the test client drops the content type of an empty body; an exporter sends it)
    assert otlp.post("/v1/logs", b"", content_type=PB, CONTENT_TYPE=PB).status_code == 200
    assert otlp.post("/v1/logs", b"{}", content_type=JSON).json() == {}


def test_other_content_types_get_415_and_other_methods_405(otlp):
    assert otlp.post("/v1/logs", b"x", content_type="text/plain").status_code == 415
    assert otlp.post("/v1/logs", b"x", content_type=PB, HTTP_CONTENT_ENCODING="br").status_code == 415
    response = otlp.get("/v1/logs")
    assert (response.status_code, response["Allow"]) == (405, "POST")


def test_bodies_past_the_limit_get_413_also_when_they_only_inflate_past_it(otlp, settings):
    settings.OTLP_MAX_BODY_BYTES = 64 * 1024
    assert otlp.post("/v1/logs", b"\x00" * (65 * 1024), content_type=PB).status_code == 413
    bomb = gzip.compress(b"\x00" * (50 * 1024 * 1024))
    response = otlp.post("/v1/logs", bomb, content_type=PB, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert status_pb2.Status.FromString(response.content).code == 8
    assert not LogRecord.objects.exists()


def test_a_token_with_the_ingest_scope_is_required(ns, other_ns):
    body = request([line("x", T0)])
    assert Client().post("/v1/logs", body, content_type=PB).status_code == 401
    assert Client(HTTP_AUTHORIZATION="Bearer jt_nope").post("/v1/logs", body, content_type=PB).status_code == 401
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {factories.token(ns, ['read'])}")
    assert reader.post("/v1/logs", body, content_type=PB).status_code == 403
    assert not LogRecord.objects.exists()
    outsider = Client(HTTP_AUTHORIZATION=f"Bearer {factories.token(other_ns, ['ingest'])}")
    assert outsider.post("/v1/logs", body, content_type=PB).status_code == 200
    assert set(LogRecord.objects.values_list("namespace_id", flat=True)) == {other_ns.pk}


def test_a_database_outage_answers_503_with_a_short_retry_after(otlp, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr("traces.logs.receiver.store_logs", down)
    response = otlp.post("/v1/logs", request([line("x", T0)]), content_type=PB)
    assert response.status_code == 503
    assert 1 <= int(response["Retry-After"]) <= 5
    assert status_pb2.Status.FromString(response.content).code == 14


def test_nul_and_huge_values_are_stored_not_a_500(otlp, ns):
    body = request([line("a\x00b", T0, attributes={"k\x00": "v\x00"}), line("x" * 100_000, T0 + 1)])
    assert otlp.post("/v1/logs", body, content_type=PB).status_code == 200
    rows = list(LogRecord.objects.filter(namespace=ns).order_by("time_ns"))
    assert rows[0].body_text == "a\ufffdb"
    assert len(rows[1].body) == 100_000
    assert len(rows[1].body_text) == 16_384
