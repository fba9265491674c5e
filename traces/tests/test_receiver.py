"""POST /v1/traces as the OTLP/HTTP specification describes it."""

from __future__ import annotations

import gzip
import json

import pytest
from django.db import OperationalError
from django.test import Client
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests import factories
from traces.models import Span, Trace

PB = "application/x-protobuf"
JSON = "application/json"
CHECKOUT_PB = "otlp_protobuf/otlp_checkout_6spans_5services_error_status.ExportTraceServiceRequest.pb"
CHECKOUT_JSON = "otlp_json/otlp_checkout_6spans_5services_error_status.json"

pytestmark = pytest.mark.django_db


def test_protobuf_is_stored_and_answered_in_protobuf(otlp, ns, fixtures_dir):
    response = otlp.post("/v1/traces", (fixtures_dir / CHECKOUT_PB).read_bytes(), content_type=PB)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == PB
    reply = ExportTraceServiceResponse.FromString(response.content)
    assert not reply.HasField("partial_success")
    assert Span.objects.filter(namespace=ns).count() == 6
    trace = Trace.objects.get(namespace=ns)
    assert (trace.span_count, trace.error_count, len(trace.services)) == (6, 3, 5)


def test_application_protobuf_is_read_as_protobuf(otlp, ns, fixtures_dir):
    response = otlp.post("/v1/traces", (fixtures_dir / CHECKOUT_PB).read_bytes(), content_type="application/protobuf")
    assert response.status_code == 200, response.content
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    assert Span.objects.filter(namespace=ns).count() == 6


def test_json_is_answered_in_json(otlp, ns, fixtures_dir):
    response = otlp.post("/v1/traces", (fixtures_dir / CHECKOUT_JSON).read_bytes(), content_type=JSON)
    assert response.status_code == 200
    assert response["Content-Type"] == JSON
    assert response.json() == {}
    assert Span.objects.filter(namespace=ns).count() == 6


def test_gzip_bodies_are_inflated(otlp, ns, fixtures_dir):
    body = (fixtures_dir / (CHECKOUT_PB + ".gz")).read_bytes()
    response = otlp.post("/v1/traces", body, content_type=PB, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200
    assert Span.objects.filter(namespace=ns).count() == 6


@pytest.mark.parametrize(
    "rel",
    [
        "otlp_json/otlp_checkout_6spans_5services_error_status.json",
        "otlp_json/otlp_jaeger_example_trace_3services_no_parent.json",
        "otlp_json/otlp_jaeger_links_opentracing_ref_type.json",
        "otlp_json/otlp_jaeger_memstore_4spans_links_events_all_kinds.json",
        "otlp_json/otlp_jaeger_ui_missing_service_name.json",
        "otlp_json/otlp_jaeger_ui_multi_resource_4spans.json",
        "otlp_json/otlp_official_example_trace.json",
        "otlp_json/otlp_telemetrygen_otlp2jaeger_in.json",
        "otlp_protobuf/otlp_jaeger_memstore_4spans_links_events_all_kinds.ExportTraceServiceRequest.pb",
        "otlp_protobuf/otlp_official_example_trace.ExportTraceServiceRequest.pb",
    ],
)
def test_every_otlp_fixture_is_stored_once_even_when_sent_twice(otlp, ns, fixtures_dir, rel):
    body = (fixtures_dir / rel).read_bytes()
    content_type = PB if rel.endswith(".pb") else JSON
    for _ in range(2):
        response = otlp.post("/v1/traces", body, content_type=content_type)
        assert response.status_code == 200
    from traces.ingest import parse_file

    expected = {(s.trace_id, s.span_id) for s in parse_file(body).spans}
    stored = set(Span.objects.filter(namespace=ns).values_list("trace_id", "span_id"))
    assert stored == expected
    for trace in Trace.objects.filter(namespace=ns):
        assert trace.span_count == Span.objects.filter(namespace=ns, trace_id=trace.trace_id).count()


def test_everything_is_kept_as_received(otlp, ns, fixtures_dir):
    rel = "otlp_protobuf/otlp_jaeger_memstore_4spans_links_events_all_kinds.ExportTraceServiceRequest.pb"
    otlp.post("/v1/traces", (fixtures_dir / rel).read_bytes(), content_type=PB)
    span = Span.objects.get(namespace=ns, trace_state="state.2")
    assert span.flags == 1
    assert span.kind == 2
    assert span.resource["service.name"] == "service-x"
    assert span.scope["name"] == "testing-library-2"
    assert span.attributes["peer.ipv4"] == 23456
    stored = Span.objects.filter(namespace=ns)
    assert sum(len(s.links) for s in stored) == 8
    assert sum(len(s.events) for s in stored) == 8
    assert stored.filter(status_code=2).exists()


def test_invalid_spans_give_partial_success_and_the_valid_ones_are_stored(otlp, ns, fixtures_dir):
    doc = json.loads((fixtures_dir / CHECKOUT_JSON).read_text())
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append(dict(spans[0], spanId="00" * 8))
    spans.append(dict(spans[0], spanId="12" * 8, name=""))
    response = otlp.post("/v1/traces", json.dumps(doc), content_type=JSON)
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert "spanId" in partial["errorMessage"]
    assert "name is missing" in partial["errorMessage"]
    assert Span.objects.filter(namespace=ns).count() == 6

    pb = otlp.post(
        "/v1/traces",
        _pb_with_bad_span((fixtures_dir / CHECKOUT_PB).read_bytes()),
        content_type=PB,
    )
    reply = ExportTraceServiceResponse.FromString(pb.content)
    assert reply.partial_success.rejected_spans == 1
    assert "traceId" in reply.partial_success.error_message


def _pb_with_bad_span(body: bytes) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest.FromString(body)
    bad = request.resource_spans[0].scope_spans[0].spans.add()
    bad.CopyFrom(request.resource_spans[0].scope_spans[0].spans[0])
    bad.trace_id = b"\x01" * 8
    return request.SerializeToString()


def test_an_empty_request_succeeds(otlp):
    # (the test client drops the content type of an empty body; an exporter sends it)
    assert otlp.post("/v1/traces", b"", content_type=PB, CONTENT_TYPE=PB).status_code == 200
    assert otlp.post("/v1/traces", b"{}", content_type=JSON).status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type", "encoding"),
    [
        (b"\x0a\xff\xff\xff\xff\x0f", PB, None),
        (b"{not json", JSON, None),
        (b'{"resourceSpans": "x"}', JSON, None),
        (b"\x1f\x8bnot really gzip", PB, "gzip"),
    ],
)
def test_undecodable_bodies_get_400_with_a_status_and_store_nothing(otlp, ns, body, content_type, encoding):
    extra = {"HTTP_CONTENT_ENCODING": encoding} if encoding else {}
    response = otlp.post("/v1/traces", body, content_type=content_type, **extra)
    assert response.status_code == 400
    assert response["Content-Type"] == content_type
    if content_type == PB:
        status = status_pb2.Status.FromString(response.content)
    else:
        status = status_pb2.Status(**response.json())
    assert status.code == 3
    assert status.message
    assert not Span.objects.exists()


def test_other_content_types_get_415_and_other_methods_405(otlp):
    refused = otlp.post("/v1/traces", b"x", content_type="text/plain")
    assert refused.status_code == 415
    message = status_pb2.Status.FromString(refused.content).message
    for accepted in ("application/x-protobuf", "application/protobuf", JSON):
        assert accepted in message
    assert otlp.post("/v1/traces", b"x", content_type=PB, HTTP_CONTENT_ENCODING="br").status_code == 415
    response = otlp.get("/v1/traces")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_bodies_past_the_limit_get_413_also_when_they_only_inflate_past_it(otlp, settings, fixtures_dir):
    settings.OTLP_MAX_BODY_BYTES = 64 * 1024
    assert otlp.post("/v1/traces", b"\x00" * (65 * 1024), content_type=PB).status_code == 413
    bomb = gzip.compress(b"\x00" * (50 * 1024 * 1024))  # 50 MiB of zeros in ~50 KiB
    assert len(bomb) < settings.OTLP_MAX_BODY_BYTES
    response = otlp.post("/v1/traces", bomb, content_type=PB, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert status_pb2.Status.FromString(response.content).code == 8
    # a real payload under the limit still goes through
    body = (fixtures_dir / (CHECKOUT_PB + ".gz")).read_bytes()
    assert otlp.post("/v1/traces", body, content_type=PB, HTTP_CONTENT_ENCODING="gzip").status_code == 200


def test_a_token_with_the_ingest_scope_is_required(ns, other_ns, fixtures_dir):
    body = (fixtures_dir / CHECKOUT_PB).read_bytes()
    assert Client().post("/v1/traces", body, content_type=PB).status_code == 401
    wrong = Client(HTTP_AUTHORIZATION="Bearer jt_not-a-token")
    assert wrong.post("/v1/traces", body, content_type=PB).status_code == 401
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {factories.token(ns, ['read'])}")
    assert reader.post("/v1/traces", body, content_type=PB).status_code == 403
    assert not Span.objects.exists()
    outsider = Client(HTTP_AUTHORIZATION=f"Bearer {factories.token(other_ns, ['ingest'])}")
    assert outsider.post("/v1/traces", body, content_type=PB).status_code == 200
    assert set(Span.objects.values_list("namespace_id", flat=True)) == {other_ns.pk}


def test_a_database_outage_answers_503_with_a_short_retry_after(otlp, monkeypatch, fixtures_dir):
    def down(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr("traces.receiver.store_spans", down)
    response = otlp.post("/v1/traces", (fixtures_dir / CHECKOUT_PB).read_bytes(), content_type=PB)
    assert response.status_code == 503
    assert 1 <= int(response["Retry-After"]) <= 5
    assert status_pb2.Status.FromString(response.content).code == 14


def test_gzip_of_many_members_is_read_in_a_loop_not_a_500(otlp, ns, fixtures_dir):
    """Concatenated members are valid gzip. Read recursively, 2,000 empty members were a RecursionError (500), and
    each member copied the rest of the body (a 1 MB body grew a worker to 1 GB)."""
    body = (fixtures_dir / CHECKOUT_PB).read_bytes()
    many = gzip.compress(b"") * 50_000 + gzip.compress(body[:100]) + gzip.compress(body[100:])
    response = otlp.post("/v1/traces", many, content_type=PB, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200, response.content
    assert Span.objects.filter(namespace=ns).count() == 6
    truncated = gzip.compress(b"") * 5_000 + gzip.compress(body)[:-4]
    response = otlp.post("/v1/traces", truncated, content_type=PB, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert "truncated" in status_pb2.Status.FromString(response.content).message
