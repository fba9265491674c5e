"""Values that are valid OTLP but not valid JSON or UTF-8 are stored, never a 500 that loses the whole batch.

NaN and ±Infinity are legal OTLP doubles (proto3 JSON spells them "NaN", "Infinity"); a lone UTF-16 surrogate
escape is what a broken producer sends. The review found each of these answered 500, dropping every good span
of the request with it (and on SQLite, NaN was dropped silently behind a 200).
"""

from __future__ import annotations

import json
import math

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests import factories
from traces.models import Span, SpanLink

pytestmark = pytest.mark.django_db
TRACE = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture
def ingest(client, ns):
    token = factories.token(ns, ["ingest"])

    def post(body: bytes, content_type: str):
        return client.post("/v1/traces", body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}")

    return post


def _json_body(value_json: str, name: str = "checkout") -> bytes:
    good = {
        "traceId": TRACE,
        "spanId": "00f067aa0ba902b8",
        "name": "good",
        "startTimeUnixNano": "1",
        "endTimeUnixNano": "2",
    }
    odd = {
        "traceId": TRACE,
        "spanId": "00f067aa0ba902b9",
        "name": name,
        "startTimeUnixNano": "1",
        "endTimeUnixNano": "2",
        "attributes": [{"key": "ratio", "value": {"doubleValue": "__V__"}}],
    }
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]}
    text = json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [good, odd]}]}]})
    return text.replace('"__V__"', value_json).encode()


@pytest.mark.parametrize(
    ("sent", "stored"), [('"NaN"', "NaN"), ('"Infinity"', "Infinity"), ('"-Infinity"', "-Infinity"), ("NaN", "NaN")]
)
def test_non_finite_doubles_in_otlp_json_are_stored_as_proto3_spells_them(ingest, sent, stored):
    response = ingest(_json_body(sent), "application/json")
    assert response.status_code == 200, response.content
    assert Span.objects.count() == 2
    assert Span.objects.get(span_id="00f067aa0ba902b9").attributes["ratio"] == stored


def test_a_nan_double_in_otlp_protobuf_is_stored(ingest):
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="svc")))
    span = rs.scope_spans.add().spans.add()
    span.trace_id = bytes.fromhex(TRACE)
    span.span_id = bytes.fromhex("00f067aa0ba902b9")
    span.name = "checkout"
    span.start_time_unix_nano, span.end_time_unix_nano = 1, 2
    span.attributes.append(KeyValue(key="ratio", value=AnyValue(double_value=math.nan)))
    response = ingest(request.SerializeToString(), "application/x-protobuf")
    assert response.status_code == 200
    assert Span.objects.get().attributes["ratio"] == "NaN"


def test_a_lone_surrogate_in_a_name_or_value_is_kept_with_a_replacement_character(ingest):
    body = _json_body('"x"', name="__NAME__").replace(b'"doubleValue": "x"', b'"stringValue": "a\\udc00b"')
    body = body.replace(b"__NAME__", b"check\\ud800out")
    response = ingest(body, "application/json")
    assert response.status_code == 200, response.content
    span = Span.objects.get(span_id="00f067aa0ba902b9")
    assert span.name == "check\ufffdout"
    assert span.attributes["ratio"] == "a\ufffdb"
    assert Span.objects.count() == 2


def test_a_proper_surrogate_pair_is_one_character_and_kept(ingest):
    body = _json_body('"x"', name="__NAME__").replace(b'"doubleValue": "x"', b'"stringValue": "ok"')
    body = body.replace(b"__NAME__", b"pay \\ud83d\\udcb3")
    assert ingest(body, "application/json").status_code == 200
    assert Span.objects.get(span_id="00f067aa0ba902b9").name == "pay \U0001f4b3"


def test_a_non_finite_double_on_a_span_link_is_stored_with_the_link(ingest):
    """Found by the receiver fuzz: the link's attributes went to SpanLink's JSON column as bare Infinity, which
    PostgreSQL refuses, and the whole batch was a 500."""
    body = json.loads(_json_body('"x"'))
    odd = body["resourceSpans"][0]["scopeSpans"][0]["spans"][1]
    odd["attributes"] = []
    linked = {"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7"}
    odd["links"] = [{**linked, "attributes": [{"key": "weight", "value": {"doubleValue": "Infinity"}}]}]
    response = ingest(json.dumps(body).encode(), "application/json")
    assert response.status_code == 200, response.content
    link = SpanLink.objects.get(span_id="00f067aa0ba902b9")
    assert (link.linked_span_id, link.attributes) == ("00f067aa0ba902b7", {"weight": "Infinity"})
    assert Span.objects.get(span_id="00f067aa0ba902b9").links[0]["attributes"] == {"weight": "Infinity"}
