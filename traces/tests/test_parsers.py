"""The pure parsers: every shared fixture, and each quirk real OTLP, Jaeger, Zipkin and Tempo data has."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from traces.ingest import ParseError, dedupe, parse_document, parse_file, parse_otlp
from traces.ingest.spans import UNKNOWN_SERVICE, parse_aliases

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
SPAN_FILES = sorted(
    p for d in ("otlp_json", "otlp_protobuf", "jaeger_api_v1", "zipkin_v2", "tempo") for p in (FIXTURES / d).iterdir()
) + [
    FIXTURES / "jaeger_api_v3" / n
    for n in ("jaeger_apiv3_GetTrace_snapshot.json", "jaeger_apiv3_FindTraces_snapshot.json")
]


def load(rel: str):
    return parse_file((FIXTURES / rel).read_bytes(), aliases={})


def by_id(result):
    return {s.span_id: s for s in result.spans}


@pytest.mark.parametrize("path", SPAN_FILES, ids=lambda p: p.name)
def test_every_span_fixture_parses_without_rejections(path):
    result = parse_file(path.read_bytes(), aliases={})
    assert result.spans, result.errors
    assert result.rejected == 0, result.errors
    for s in result.spans:
        assert len(s.trace_id) == 32
        assert s.trace_id == s.trace_id.lower()
        assert len(s.span_id) == 16
        assert s.span_id == s.span_id.lower()
        assert s.parent_span_id == "" or len(s.parent_span_id) == 16
        assert s.service
        assert s.name


@pytest.mark.parametrize(
    "name", ["jaeger_apiv3_GetServices_snapshot.json", "jaeger_apiv3_FindTraceSummaries_snapshot.json"]
)
def test_jaeger_v3_answers_that_hold_no_spans_are_refused_with_a_reason(name):
    with pytest.raises(ParseError, match="unrecognised trace JSON"):
        load(f"jaeger_api_v3/{name}")


def test_protobuf_and_json_of_the_same_trace_parse_identically():
    from_json = load("otlp_json/otlp_checkout_6spans_5services_error_status.json")
    from_pb = load("otlp_protobuf/otlp_checkout_6spans_5services_error_status.ExportTraceServiceRequest.pb")
    from_gz = load("otlp_protobuf/otlp_checkout_6spans_5services_error_status.ExportTraceServiceRequest.pb.gz")
    assert from_json.spans == from_pb.spans == from_gz.spans
    errors = [s for s in from_pb.spans if s.status_code == 2]
    assert len(errors) == 3
    assert all(s.status_message for s in errors)
    assert any(e["name"] == "exception" for s in from_pb.spans for e in s.events)


def test_otlp_json_upper_case_ids_string_integers_links_events_and_every_value_type():
    official = load("otlp_json/otlp_official_example_trace.json").spans[0]
    assert official.trace_id == "5b8efff798038103d269b633813fc60c"
    assert official.kind == 2
    assert official.scope["attributes"]
    memstore = load("otlp_json/otlp_jaeger_memstore_4spans_links_events_all_kinds.json")
    assert {s.kind for s in memstore.spans} == {2, 3, 4, 5}
    span = next(s for s in memstore.spans if s.trace_state == "state.2")
    assert span.flags == 1
    assert span.attributes["peer.ipv4"] == 23456  # intValue as a string
    assert isinstance(span.attributes["blob"], str)  # bytesValue kept as base64
    assert sum(len(s.links) for s in memstore.spans) == 8
    assert sum(len(s.events) for s in memstore.spans) == 8
    assert len({s.trace_id for s in memstore.spans}) == 2
    ref_types = load("otlp_json/otlp_jaeger_links_opentracing_ref_type.json").spans[0]
    assert {type(v) for v in ref_types.attributes.values()} >= {str, int, bool, float}


def test_a_resource_without_service_name_gets_a_placeholder_service():
    result = load("otlp_json/otlp_jaeger_ui_missing_service_name.json")
    assert result.rejected == 0
    assert {s.service for s in result.spans} == {UNKNOWN_SERVICE}


def test_jaeger_ids_without_leading_zeros_are_left_padded():
    result = load("jaeger_api_v1/jaeger_api_trace_jaeger_query_unpadded_spanid.json")
    child = by_id(result)["0ec2b4e0bcea566d"]
    assert child.trace_id == "0000000000000000" + "2db17286b3e6b148"
    assert child.parent_span_id == "2db17286b3e6b148"
    petclinic = load("jaeger_api_v1/jaeger_ui_trace_petclinic_17spans_31char_traceid.json")
    assert {s.trace_id for s in petclinic.spans} == {"0df84e36b9e2ee3815d07f0867a5be1f"}


def test_jaeger_tag_types_big_int64_binary_bool_strings_and_warnings():
    result = load("jaeger_api_v1/jaeger_ui_trace_converter_ui_01_all_tag_types.json")
    tagged = next(s for s in result.spans if "javascript_limit" in s.attributes)
    assert tagged.attributes["javascript_limit"] == 9223372036854775222
    assert tagged.attributes["blob"] == "AAAwOQ=="
    assert tagged.attributes["temperature"] == 72.5
    assert tagged.status_code == 2  # error=true
    assert "Jaeger warning: some trace warning" in result.warnings
    ref = next(s for s in result.spans if s.name == "reference-test")
    assert ref.parent_span_id == "0000000000000002"
    assert {(link["trace_id"][-2:], link["ref_type"]) for link in ref.links} == {
        ("ff", "child_of"),
        ("01", "follows_from"),
    }
    assert ref.attributes["jaeger.warnings"] == ["some span warning"]
    assert [s.name for s in dedupe(result.spans) if s.span_id == "0000000000000002"] == ["test-general-conversion"]


def test_jaeger_follows_from_becomes_a_link_and_a_child_listed_first_still_finds_its_parent():
    result = load("jaeger_api_v1/jaeger_api_trace_issue115_follows_from.json")
    thread = by_id(result)["1bdf4201221bb2ac"]
    assert thread.parent_span_id == ""
    assert thread.links[0]["span_id"] == "ea7cfaca83f0724b"
    assert thread.links[0]["ref_type"] == "follows_from"
    assert thread.start_ns == 1509533706521220 * 1000


def test_jaeger_booleans_written_as_strings_and_embedded_processes():
    result = load("jaeger_api_v1/jaeger_spans_embedded_process_anonymizer.json")
    assert {s.service for s in result.spans} == {"16af988c443cff37", "3c220036602f839e"}
    client = next(s for s in result.spans if s.kind == 3)
    assert client.status_code == 2


def test_non_hex_jaeger_ids_are_hashed_deterministically_and_the_original_kept():
    first = load("jaeger_api_v1/jaeger_ui_trace_11spans_follows_from_error.json")
    again = load("jaeger_api_v1/jaeger_ui_trace_11spans_follows_from_error.json")
    assert [s.span_id for s in first.spans] == [s.span_id for s in again.spans]
    root = next(s for s in first.spans if s.attributes.get("jaeger.original_span_id") == "span-1")
    child = next(s for s in first.spans if s.attributes.get("jaeger.original_span_id") == "span-2")
    assert child.parent_span_id == root.span_id
    assert root.attributes["jaeger.original_trace_id"] == "trace-123"
    assert any("hashed" in w for w in first.warnings)


def test_zipkin_shared_client_and_server_span_are_both_kept():
    result = load("zipkin_v2/zipkin_v2_spans_skew_shared_span.json")
    assert len(dedupe(result.spans)) == 4
    server = next(s for s in result.spans if s.attributes.get("zipkin.shared_span_id"))
    assert server.parent_span_id == "74280ae0c10d8062"
    assert server.kind == 2
    assert result.spans[0].trace_id == "0000000000000000" + "1e223ff1f80f1c69"


def test_tempo_base64_ids_and_enum_names_are_read_and_said():
    result = load("tempo/tempo_trace_by_id_istio_bookinfo_base64_ids.json")
    assert result.format == "tempo"
    assert len(result.spans) == 8
    assert {s.kind for s in result.spans} <= {1, 2, 3}
    assert result.spans[0].trace_id == "3ba55609c3cde49649cd77d1f9dcd936"
    assert any("base64" in w for w in result.warnings)


def test_invalid_spans_are_rejected_one_by_one_with_reasons():
    doc = json.loads((FIXTURES / "otlp_json/otlp_checkout_6spans_5services_error_status.json").read_text())
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append(dict(spans[0], traceId="abc"))
    spans.append(dict(spans[0], traceId="0" * 32))
    spans.append(dict(spans[0], spanId="1" * 15))
    spans.append(dict(spans[0], name=""))
    result = parse_otlp(json.dumps(doc).encode(), json_body=True, aliases={})
    assert result.rejected == 4
    assert len(result.spans) == 6
    message = result.error_message
    assert "resourceSpans[0].scopeSpans[0].spans[1]: traceId" in message
    assert "spanId must be" in message
    assert "name is missing" in message


def test_rejections_name_everything_that_is_accepted():
    """A message that says "hex" or "integer" sends the sender the wrong way when base64 ids and enum names are
    read too."""
    doc = json.loads((FIXTURES / "otlp_json/otlp_checkout_6spans_5services_error_status.json").read_text())
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    first = spans[0]
    spans[:] = [
        dict(first, kind="SERVER"),
        dict(first, spanId="2" * 16, status={"code": "ERROR"}),
        dict(first, traceId="not-an-id"),
        dict(first, spanId="3" * 16, kind="SPAN_KIND_SERVER", status={"code": "STATUS_CODE_ERROR"}),
    ]
    result = parse_otlp(json.dumps(doc).encode(), json_body=True, aliases={})
    assert result.rejected == 3
    [named] = [s for s in result.spans if s.span_id == "3" * 16]
    assert (named.kind, named.status_code) == (2, 2)  # the enum names are read
    kind, status, trace_id = result.errors
    assert "kind 'SERVER' is not a known value" in kind
    assert "integer 0-5" in kind
    assert "SPAN_KIND_SERVER" in kind
    assert "must be an integer" not in kind
    assert "status.code 'ERROR'" in status
    assert "STATUS_CODE_ERROR" in status
    assert "traceId must be 32 hex characters (or 16 bytes in base64)" in trace_id


def test_undecodable_bodies_raise_parse_errors():
    with pytest.raises(ParseError):
        parse_otlp(b"\xff\xff\xff", json_body=False)
    with pytest.raises(ParseError):
        parse_otlp(b"{not json", json_body=True)
    with pytest.raises(ParseError):
        parse_otlp(b'{"resourceSpans": 5}', json_body=True)
    assert parse_otlp(b"{}", json_body=True).spans == []
    assert parse_otlp(b"", json_body=False).spans == []


def test_job_and_messaging_attributes_are_extracted_with_configured_aliases():
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "xxl.job.id", "value": {"stringValue": "nightly"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "a" * 32,
                                "spanId": "b" * 16,
                                "name": "run",
                                "attributes": [
                                    {"key": "xxl.job.log_id", "value": {"intValue": "42"}},
                                    {"key": "job.shard.id", "value": {"stringValue": "s-1"}},
                                    {"key": "messaging.message.id", "value": {"stringValue": "m-1"}},
                                    {"key": "correlation_id", "value": {"stringValue": "c-1"}},
                                    {"key": "causation_id", "value": {"stringValue": "m-0"}},
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    aliases = parse_aliases(["xxl.job.id=job.name", "xxl.job.log_id=job.execution.id", "bogus"])
    span = parse_document(doc, aliases).spans[0]
    assert (span.job_name, span.job_execution_id, span.job_shard_id) == ("nightly", "42", "s-1")
    assert (span.message_id, span.correlation_id, span.causation_id) == ("m-1", "c-1", "m-0")
    assert parse_document(doc, {}).spans[0].job_name == ""


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        # Jaeger: each fits, their sum (the end) does not
        (
            {
                "data": [
                    {
                        "traceID": "5b8efff798038103d269b633813fc60c",
                        "spans": [
                            {
                                "traceID": "5b8efff798038103d269b633813fc60c",
                                "spanID": "eee19b7ec3c1b174",
                                "operationName": "op",
                                "startTime": 9_000_000_000_000_000,
                                "duration": 9_000_000_000_000_000,
                            }
                        ],
                    }
                ]
            },
            "before 2^63",
        ),
        ([{"traceId": "4bf92f3577b34da6a3ce929d0e0e4737", "id": "00f067aa0ba902b7", "timestamp": 10**16}], "2^63"),
        ([{"traceId": "4bf92f3577b34da6a3ce929d0e0e4737", "id": "00f067aa0ba902b7", "timestamp": -9 * 10**15}], "2^63"),
        (
            [
                {
                    "traceId": "4bf92f3577b34da6a3ce929d0e0e4737",
                    "id": "00f067aa0ba902b7",
                    "annotations": [{"timestamp": "abc", "value": "x"}],
                }
            ],
            "integers",
        ),
    ],
)
def test_times_that_cannot_be_stored_reject_the_span_with_a_reason(document, reason):
    """A span whose end overflowed a bigint was stored, and then every later write to its trace failed (500)."""
    good = {"traceId": "4bf92f3577b34da6a3ce929d0e0e4739", "id": "00f067aa0ba902b8", "name": "ok", "timestamp": 1}
    if isinstance(document, list):
        document = [*document, good]
    result = parse_document(document)
    assert result.rejected == 1
    assert reason in result.errors[0]
    assert len(result.spans) == (1 if isinstance(document, list) else 0)


@pytest.mark.parametrize(
    "text",
    [
        '[{"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "id": "00f067aa0ba902b7", "timestamp": Infinity}]',
        '{"data": [{"traceID": "1", "spans": [{"traceID": "4bf92f3577b34da6a3ce929d0e0e4738",'
        ' "spanID": "00f067aa0ba902b7", "operationName": "op", "startTime": Infinity}]}]}',
        '{"data": [{"traceID": "1", "spans": [{"traceID": "4bf92f3577b34da6a3ce929d0e0e4738",'
        ' "spanID": "00f067aa0ba902b7", "operationName": "op", "logs": [{"timestamp": -Infinity}]}]}]}',
    ],
)
def test_infinite_timestamps_in_jaeger_and_zipkin_files_reject_the_span_not_the_import(text):
    result = parse_file(text.encode())
    assert (result.rejected, len(result.spans)) == (1, 0)


def test_a_protobuf_link_with_ids_of_the_wrong_length_rejects_its_span_as_json_does():
    """The JSON path refused such links; protobuf kept them, and SpanLink silently cut the ids to another id."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    link_ids = [(b"\x01" * 20, b"\x02" * 8), (b"\x01" * 16, b"\x02" * 9), (b"\x01" * 16, b"\x02" * 8)]
    for i, (link_trace, link_span) in enumerate(link_ids):
        span = spans.add(trace_id=b"\x0a" * 16, span_id=bytes([i + 1]) * 8, name="op")
        span.links.add(trace_id=link_trace, span_id=link_span)
    result = parse_otlp(request.SerializeToString(), json_body=False, aliases={})
    assert result.rejected == 2
    assert "a link's traceId/spanId is not 16/8 bytes" in result.error_message
    assert [s.links[0]["span_id"] for s in result.spans] == ["02" * 8]
