"""Fuzzing the parsers and the receiver: random bytes and mutated real fixtures only ever give a ParseError / 400
or a (partial) success, never a 500, and a rejected request leaves the stored spans unchanged."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.times import parse_moment, parse_rfc3339
from tests import factories
from traces.ingest import ParseError, parse_document, parse_file, parse_otlp
from traces.models import Span, Trace

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
PB_FIXTURES = sorted((FIXTURES / "otlp_protobuf").glob("*.pb"))
JSON_FIXTURES = sorted(
    p
    for d in ("otlp_json", "jaeger_api_v1", "jaeger_api_v3", "zipkin_v2", "tempo")
    for p in (FIXTURES / d).glob("*.json")
)
FAST = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))


def _parses_or_refuses(call) -> None:
    try:
        result = call()
    except ParseError as exc:
        message = str(exc)
        assert message  # a refusal always says why
        return
    assert result.rejected >= 0
    for span in result.spans:
        assert len(span.trace_id) == 32
        assert len(span.span_id) == 16
        assert isinstance(span.start_ns, int)
        assert isinstance(span.duration_ns, int)
        assert span.duration_ns >= 0


@FAST
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash_the_protobuf_parser(data):
    _parses_or_refuses(lambda: parse_otlp(data, json_body=False, aliases={}))


@FAST
@given(st.sampled_from(PB_FIXTURES), st.data())
def test_mutated_protobuf_fixtures_never_crash_the_parser(path, data):
    body = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(body) - 1))
        body[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    _parses_or_refuses(lambda: parse_otlp(bytes(body[:cut] if data.draw(st.booleans()) else body), json_body=False))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


def _mutate(node, data, depth=0):
    """Replace one random node of a JSON document with a random JSON value."""
    if depth > 12 or not isinstance(node, dict | list) or not node or data.draw(st.integers(0, 4)) == 0:
        return data.draw(JSON_VALUES)
    if isinstance(node, dict):
        key = data.draw(st.sampled_from(sorted(node)))
        return {**node, key: _mutate(node[key], data, depth + 1)}
    i = data.draw(st.integers(0, len(node) - 1))
    return [*node[:i], _mutate(node[i], data, depth + 1), *node[i + 1 :]]


@FAST
@given(st.sampled_from(JSON_FIXTURES), st.data())
def test_mutated_json_fixtures_never_crash_any_json_parser(path, data):
    doc = _mutate(json.loads(path.read_text()), data)
    _parses_or_refuses(lambda: parse_document(doc, {}))
    _parses_or_refuses(lambda: parse_otlp(json.dumps(doc).encode(), json_body=True, aliases={}))


@FAST
@given(st.binary(max_size=512))
def test_random_bytes_never_crash_the_file_importer(data):
    _parses_or_refuses(lambda: parse_file(data, aliases={}))


@pytest.mark.django_db
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_receiver_answers_fuzz_with_400_or_200_and_a_rejected_request_changes_nothing(data):
    ns = factories.namespace("fuzz")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {factories.token(ns, ['ingest'])}")
    checkout = FIXTURES / "otlp_json" / "otlp_checkout_6spans_5services_error_status.json"
    client.post("/v1/traces", checkout.read_bytes(), content_type="application/json")
    before = sorted(Span.objects.filter(namespace=ns).values_list("trace_id", "span_id", "name", "attributes"))
    summaries = sorted(Trace.objects.filter(namespace=ns).values_list("trace_id", "span_count", "error_count"))
    if data.draw(st.booleans()):
        body = json.dumps(_mutate(json.loads(data.draw(st.sampled_from(JSON_FIXTURES)).read_text()), data)).encode()
        content_type = "application/json"
    else:
        raw = bytearray(data.draw(st.sampled_from(PB_FIXTURES)).read_bytes())
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
        body, content_type = bytes(raw), "application/x-protobuf"
    response = client.post("/v1/traces", body, content_type=content_type)
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert (
            sorted(Span.objects.filter(namespace=ns).values_list("trace_id", "span_id", "name", "attributes")) == before
        )
        assert (
            sorted(Trace.objects.filter(namespace=ns).values_list("trace_id", "span_count", "error_count")) == summaries
        )
    for trace in Trace.objects.filter(namespace=ns):
        assert trace.span_count == Span.objects.filter(namespace=ns, trace_id=trace.trace_id).count()


_hostile_text = st.one_of(
    st.sampled_from(["\x00", "a\x00b", "\ud800", "x" * 201, "y" * 300, "null", "\\", "\t\n", "😀" * 70, ""]),
    st.text(max_size=12),
)
# Keys the writer reads into columns (job.*, messaging ids), so their values reach text columns of their own.
_extracted_keys = st.sampled_from(
    [
        "job.namespace",
        "job.name",
        "job.execution.id",
        "job.shard.id",
        "messaging.message.id",
        "messaging.message.conversation_id",
        "causation_id",
        "message_id",
        "tenant.id",
    ]
)
_attribute = st.fixed_dictionaries(
    {
        "key": _hostile_text,
        "value": st.one_of(
            st.builds(lambda v: {"stringValue": v}, _hostile_text),
            st.builds(lambda v: {"intValue": str(v)}, st.integers(-(2**63), 2**63 - 1)),
            st.builds(lambda v: {"doubleValue": v}, st.floats()),
            st.builds(lambda v: {"boolValue": v}, st.booleans()),
            st.just({}),
        ),
    }
)

# Every span names some of them, with hostile text.
_extracted = st.lists(
    st.fixed_dictionaries({"key": _extracted_keys, "value": st.builds(lambda v: {"stringValue": v}, _hostile_text)}),
    min_size=1,
    max_size=4,
    unique_by=lambda kv: kv["key"],
)


@st.composite
def _generated_otlp_json(draw) -> bytes:
    trace = draw(st.sampled_from(["0af7651916cd43dd8448eb211c80319c", "4bf92f3577b34da6a3ce929d0e0e4736"]))
    spans = []
    for i in range(draw(st.integers(1, 6))):
        start = draw(st.integers(0, 2**62))
        spans.append(
            {
                "traceId": trace,
                "spanId": f"{i + 1:016x}",
                "parentSpanId": draw(st.sampled_from(["", "0000000000000001", "00000000000000ff"])),
                "name": draw(_hostile_text),
                "kind": draw(st.integers(0, 5)),
                "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(start + draw(st.integers(0, 10**12))),
                "attributes": draw(_extracted) + draw(st.lists(_attribute, max_size=3)),
                "events": [{"name": draw(_hostile_text), "attributes": draw(st.lists(_attribute, max_size=2))}],
                "links": draw(
                    st.lists(
                        st.fixed_dictionaries(
                            {
                                "traceId": st.just("4bf92f3577b34da6a3ce929d0e0e4736"),
                                "spanId": st.just("00f067aa0ba902b7"),
                                "attributes": st.lists(_attribute, max_size=2),
                            }
                        ),
                        max_size=1,
                    )
                ),
                "status": {"code": draw(st.integers(0, 2)), "message": draw(_hostile_text)},
                "traceState": draw(_hostile_text),
            }
        )
    service = {"key": "service.name", "value": {"stringValue": draw(_hostile_text)}}
    resource = {"attributes": [service, *draw(st.lists(_attribute, max_size=3))]}
    doc = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": "fuzz"}, "spans": spans}]}]}
    return json.dumps(doc).encode()


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=_generated_otlp_json())
def test_hostile_values_in_every_field_are_stored_or_refused_never_a_500(body):
    """Names, services, attribute keys and values (those read into job and messaging columns too), status messages,
    trace states: NUL, lone surrogates, over-long and empty text. Found: a NUL in a span's message id was a 500."""
    ns = factories.namespace(f"fuzz-{secrets.token_hex(4)}")  # examples share the test's transaction
    client = Client(HTTP_AUTHORIZATION=f"Bearer {factories.token(ns, ['ingest'])}")
    response = client.post("/v1/traces", body, content_type="application/json")
    assert response.status_code in (200, 400), response.content
    if response.status_code == 200:
        sent = {s["spanId"] for s in json.loads(body)["resourceSpans"][0]["scopeSpans"][0]["spans"]}
        rejected = json.loads(response.content).get("partialSuccess", {}).get("rejectedSpans", 0)
        stored = Span.objects.filter(namespace=ns).count()
        assert stored == len(sent) - int(rejected)
        for trace in Trace.objects.filter(namespace=ns):
            assert trace.span_count == Span.objects.filter(namespace=ns, trace_id=trace.trace_id).count()


# --- times sent by clients (console/times.py): a time or a ValueError, never a crash, never text left over ----------

_TIME_TEXT = st.text(alphabet=st.sampled_from("0123456789-:T tZz+.,smhdw\x00\u0660x"), max_size=32) | st.text(
    max_size=32
)


@FAST
@given(_TIME_TEXT)
def test_any_text_is_read_as_a_time_in_utc_or_refused_with_a_value_error(text):
    for parse in (parse_rfc3339, parse_moment):
        try:
            moment = parse(text)
        except ValueError as exc:
            refusal = str(exc)
            assert refusal  # says why
            continue
        assert moment.utcoffset() == timedelta(0)
        assert "\x00" not in text


@FAST
@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
    st.sampled_from(["", "+02:00", "-11:30"]),
    st.text(min_size=1, max_size=12),
)
def test_a_timestamp_followed_by_anything_is_refused_not_cut(when, offset, suffix):
    text = when.replace(tzinfo=None).isoformat(timespec="microseconds") + (offset or "Z")
    assert parse_rfc3339(text) is not None
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_rfc3339(text + suffix)
    with pytest.raises(ValueError, match="not a time"):
        parse_moment(f"{text}\x00{suffix}")
