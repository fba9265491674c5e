"""Fuzzing the log parsers and POST /v1/logs as the span parsers are fuzzed: random bytes, mutated real requests
and hostile values only ever give a ParseError / 400 or a (partial) success, never a 500, and a refused request
stores nothing."""

from __future__ import annotations

import copy
import json
import secrets
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories
from traces.logs.ingest import ParseError, parse_logs
from traces.logs.models import LogRecord
from traces.logs.tests.builders import SPAN, SPEC_EXAMPLE, TRACE, line, request

FAST = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
PB_SAMPLE = request(
    [
        line("a line", 1_764_000_000_000_000_000, 9, trace_id=TRACE, span_id=SPAN, attributes={"k": [1, {"m": True}]}),
        {"body": {"map": [1, 2.5, b"\x00\xff"]}, "observed_time_unix_nano": 5, "event_name": "e"},
    ],
    resource={"job.name": "nightly", "job.execution.id": "run-1"},
)


def _parses_or_refuses(body: bytes, json_body: bool) -> None:
    try:
        result = parse_logs(body, json_body)
    except ParseError as exc:
        message = str(exc)
        assert message  # a refusal always says why
        return
    assert result.rejected >= 0
    for r in result.records:
        assert len(r.trace_id) in (0, 32)
        assert len(r.span_id) in (0, 16)
        assert 0 <= r.severity_number <= 24
        assert 0 <= r.time_ns < 2**63
        assert len(r.record_hash) == 32
        assert "\x00" not in r.body_text


@FAST
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash_the_protobuf_parser(data):
    _parses_or_refuses(data, json_body=False)


@FAST
@given(st.data())
def test_mutated_protobuf_requests_never_crash_the_parser(data):
    body = bytearray(PB_SAMPLE)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(body) - 1))
        body[i] = data.draw(st.integers(0, 255))
    _parses_or_refuses(bytes(body[: data.draw(st.integers(0, len(body)))]), json_body=False)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)


def _mutate(doc: Any, data: st.DataObject) -> Any:
    """Replace one value somewhere in the document by something of any JSON type."""
    doc = copy.deepcopy(doc)
    node = doc
    for _ in range(data.draw(st.integers(0, 8))):
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node)))
            if not isinstance(node[key], dict | list) or data.draw(st.booleans()):
                node[key] = data.draw(_json_values)
                return doc
            node = node[key]
        elif isinstance(node, list) and node:
            i = data.draw(st.integers(0, len(node) - 1))
            if not isinstance(node[i], dict | list) or data.draw(st.booleans()):
                node[i] = data.draw(_json_values)
                return doc
            node = node[i]
        else:
            break
    return data.draw(_json_values) if data.draw(st.booleans()) else doc


@FAST
@given(st.data())
def test_mutated_json_requests_never_crash_the_parser(data):
    _parses_or_refuses(json.dumps(_mutate(SPEC_EXAMPLE, data)).encode(), json_body=True)


_hostile = st.one_of(
    st.sampled_from(["\x00", "a\x00b", "\ud800", "x" * 300, "null", "\\", "<script>alert(1)</script>", "%_", ""]),
    st.text(max_size=12),
)
_any_value = st.one_of(
    st.builds(lambda v: {"stringValue": v}, _hostile),
    st.builds(lambda v: {"intValue": str(v)}, st.integers(-(2**63), 2**63 - 1)),
    st.builds(lambda v: {"doubleValue": v}, st.floats()),
    st.builds(lambda v: {"boolValue": v}, st.booleans()),
    st.builds(lambda v: {"kvlistValue": {"values": [{"key": v, "value": {"stringValue": v}}]}}, _hostile),
    st.builds(lambda v: {"arrayValue": {"values": [{"stringValue": v}, {"doubleValue": 1.5}]}}, _hostile),
    st.just({}),
)
_attribute = st.fixed_dictionaries(
    {"key": _hostile | st.sampled_from(["job.execution.id", "job.shard.id"]), "value": _any_value}
)


@st.composite
def _generated_logs_json(draw) -> bytes:
    records = [
        {
            "timeUnixNano": str(draw(st.integers(0, 2**64))),
            "observedTimeUnixNano": str(draw(st.integers(0, 2**63))),
            "severityNumber": draw(st.integers(-1, 30)),
            "severityText": draw(_hostile),
            "body": draw(_any_value),
            "attributes": draw(st.lists(_attribute, max_size=3)),
            "traceId": draw(st.sampled_from(["", TRACE, "0" * 32, "zz"])),
            "spanId": draw(st.sampled_from(["", SPAN, "0" * 16])),
            "flags": draw(st.integers(0, 2**33)),
            "eventName": draw(_hostile),
        }
        for _ in range(draw(st.integers(1, 5)))
    ]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": draw(_hostile)}}]}
    doc = {"resourceLogs": [{"resource": resource, "scopeLogs": [{"scope": {"name": "fuzz"}, "logRecords": records}]}]}
    return json.dumps(doc).encode()


@pytest.mark.django_db
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=_generated_logs_json(), mutate=st.data())
def test_hostile_values_are_stored_or_refused_never_a_500_and_a_refusal_stores_nothing(body, mutate):
    ns = factories.namespace(f"fuzz-{secrets.token_hex(4)}")  # examples share the test's transaction
    client = Client(HTTP_AUTHORIZATION=f"Bearer {factories.token(ns, ['ingest'])}")
    mutated = mutate.draw(st.booleans())
    if mutated:
        body = json.dumps(_mutate(json.loads(body), mutate)).encode()
    response = client.post("/v1/logs", body, content_type="application/json")
    assert response.status_code in (200, 400), response.content
    stored = LogRecord.objects.filter(namespace=ns).count()
    if response.status_code == 400:
        assert stored == 0
    elif not mutated:
        sent = len(json.loads(body)["resourceLogs"][0]["scopeLogs"][0]["logRecords"])
        rejected = int(json.loads(response.content).get("partialSuccess", {}).get("rejectedLogRecords", 0))
        assert stored <= sent - rejected  # identical records are one
