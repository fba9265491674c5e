"""The record parser: JSON in, dataclasses or errors by item index and field out. No database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.ingest import (
    ExecutionRecord,
    InvalidRecords,
    decode_json,
    parse_executions,
    parse_shards,
)

TRACE = "4BF92F3577B34DA6A3CE929D0E0E4736"
SPAN = "00F067AA0BA902B7"


def errors_of(call, *args, **kwargs) -> list[dict]:
    with pytest.raises(InvalidRecords) as caught:
        call(*args, **kwargs)
    return [e.as_dict() for e in caught.value.errors]


def test_a_full_execution_record_becomes_a_dataclass_with_the_envelope_flattened():
    [record] = parse_executions(
        {
            "namespace": "payments",
            "job": "settlement-migration",
            "execution_id": 42,
            "trigger": "event",
            "status": "failed",
            "scheduled_at": "2024-05-01T12:00:00Z",
            "started_at": "2024-05-01T12:00:01.250+02:00",
            "finished_at": "2024-05-01T10:00:09Z",
            "attempt": 2,
            "worker": "worker-7",
            "params": {"batch": 1000},
            "error": "field too long",
            "trace_id": TRACE,
            "sampled": True,
            "envelope": {"message_id": "m-1", "correlation_id": "c-1", "trace_id": TRACE, "operation": "process"},
        },
        max_batch=10,
    )
    assert isinstance(record, ExecutionRecord)
    assert record.execution_id == "42"
    assert record.trace_id == TRACE.lower()
    assert record.envelope_trace_id == TRACE.lower()
    assert (record.message_id, record.correlation_id, record.operation) == ("m-1", "c-1", "process")
    assert record.started_at == datetime(2024, 5, 1, 10, 0, 1, 250000, tzinfo=UTC)
    assert record.sent() >= {"status", "attempt", "params", "message_id", "envelope_trace_id"}


def test_empty_values_mean_not_sent_so_they_never_overwrite():
    [record] = parse_executions(
        [{"job": "j", "execution_id": "1", "error": "", "params": {}, "worker": None, "trace_id": ""}], max_batch=10
    )
    assert record.sent() == frozenset()


def test_shard_ids_and_labels_are_kept_as_strings_and_span_ids_lowered():
    [shard] = parse_shards(
        [{"job": "j", "execution_id": 7, "shard_id": 3, "labels": {"account": "1000002"}, "span_id": SPAN}],
        max_batch=10,
    )
    assert (shard.execution_id, shard.shard_id) == ("7", "3")
    assert shard.labels == {"account": "1000002"}
    assert shard.span_id == SPAN.lower()


@pytest.mark.parametrize(
    ("item", "field", "words"),
    [
        ({"execution_id": "1"}, "job", "required"),
        ({"job": "j"}, "execution_id", "required"),
        ({"job": "j", "execution_id": ["1"]}, "execution_id", "string"),
        ({"job": 5, "execution_id": "1"}, "job", "string"),
        ({"job": "j", "execution_id": "1", "status": "done"}, "status", "not a known status"),
        ({"job": "j", "execution_id": "1", "trigger": "cron"}, "trigger", "not a known trigger"),
        ({"job": "j", "execution_id": "1", "trace_id": "abc"}, "trace_id", "32 hex"),
        ({"job": "j", "execution_id": "1", "trace_id": "g" * 32}, "trace_id", "32 hex"),
        ({"job": "j", "execution_id": "1", "trace_id": "0" * 32}, "trace_id", "zeros"),
        ({"job": "j", "execution_id": "1", "started_at": "2024-05-01T12:00:00"}, "started_at", "offset"),
        ({"job": "j", "execution_id": "1", "started_at": "yesterday"}, "started_at", "RFC 3339"),
        ({"job": "j", "execution_id": "1", "started_at": 1714560000}, "started_at", "string"),
        ({"job": "j", "execution_id": "1", "attempt": 0}, "attempt", "between"),
        ({"job": "j", "execution_id": "1", "attempt": True}, "attempt", "integer"),
        ({"job": "j", "execution_id": "1", "params": [1]}, "params", "object"),
        ({"job": "j", "execution_id": "1", "sampled": "yes"}, "sampled", "true or false"),
        ({"job": "j", "execution_id": "1", "stauts": "failed"}, "stauts", "not a known field"),
        ({"job": "j", "execution_id": "1", "envelope": {"trace_id": "xyz"}}, "envelope.trace_id", "32 hex"),
        ({"job": "j", "execution_id": "1", "envelope": "m-1"}, "envelope", "object"),
        ({"job": "j" * 201, "execution_id": "1"}, "job", "at most 200"),
        ({"job": "j", "execution_id": "1", "worker": "a\x00b"}, "worker", "NUL"),
    ],
)
def test_a_bad_execution_field_is_named_with_its_item_index(item, field, words):
    good = {"job": "j", "execution_id": "0"}
    errors = errors_of(parse_executions, [good, good, good, item], max_batch=10)
    assert [(e["index"], e["field"]) for e in errors] == [(3, field)]
    assert words in errors[0]["message"]


@pytest.mark.parametrize(
    ("item", "field", "words"),
    [
        ({"job": "j", "execution_id": "1"}, "shard_id", "required"),
        ({"job": "j", "execution_id": "1", "shard_id": "s", "span_id": "abc"}, "span_id", "16 hex"),
        ({"job": "j", "execution_id": "1", "shard_id": "s", "labels": {"account": 1000002}}, "labels", "string"),
        ({"job": "j", "execution_id": "1", "shard_id": "s", "labels": ["account"]}, "labels", "object"),
        ({"job": "j", "execution_id": "1", "shard_id": "s", "index": "3"}, "index", "integer"),
        ({"job": "j", "execution_id": "1", "shard_id": "s", "status": "ok"}, "status", "not a known status"),
    ],
)
def test_a_bad_shard_field_is_named_with_its_item_index(item, field, words):
    errors = errors_of(parse_shards, [{"job": "j", "execution_id": "1", "shard_id": "0"}, item], max_batch=10)
    assert [(e["index"], e["field"]) for e in errors] == [(1, field)]
    assert words in errors[0]["message"]


def test_every_bad_item_is_reported_not_only_the_first():
    errors = errors_of(
        parse_shards, [{"job": "j"}, "nope", {"job": "j", "execution_id": "1", "shard_id": "s"}], max_batch=10
    )
    assert {(e["index"], e["field"]) for e in errors} == {(0, "execution_id"), (0, "shard_id"), (1, None)}


def test_a_batch_over_the_limit_is_refused_as_a_whole():
    errors = errors_of(
        parse_shards, [{"job": "j", "execution_id": "1", "shard_id": str(i)} for i in range(11)], max_batch=10
    )
    assert errors == [{"index": None, "field": None, "message": errors[0]["message"]}]
    assert "at most 10" in errors[0]["message"]


@pytest.mark.parametrize(
    ("body", "words"), [(b"", "empty"), (b"{not json", "not valid JSON"), (b'["\xc3\x28"]', "UTF-8")]
)
def test_a_body_that_is_not_json_is_refused_with_where_it_broke(body, words):
    errors = errors_of(decode_json, body)
    assert errors[0]["index"] is None
    assert words in errors[0]["message"]


def test_a_scalar_body_is_refused():
    assert "object or a list" in errors_of(parse_executions, 5, max_batch=10)[0]["message"]


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=40),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
        max_leaves=20,
    )
)
def test_any_json_either_parses_or_is_refused_with_field_errors_never_a_crash(data):
    json.dumps(data)
    for parse in (parse_executions, parse_shards):
        errors: list = []
        try:
            parse(data, max_batch=1000)
        except InvalidRecords as invalid:
            errors = invalid.errors
            assert errors, "a refusal always says why"
        assert all(isinstance(e.message, str) and e.message for e in errors)


def test_an_unpaired_surrogate_escape_is_refused_with_its_item_index():
    body = b'[{"job": "j", "execution_id": "1"}, {"job": "j\\ud800", "execution_id": "2"}]'
    errors = errors_of(decode_json, body)
    assert errors[0]["index"] == 1
    assert "surrogate" in errors[0]["message"]
    assert decode_json(b'[{"job": "\\ud83d\\ude00", "execution_id": "1"}]')[0]["job"] == "\U0001f600"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_nan_or_infinity_in_params_is_refused_with_its_item_index(number):
    body = f'[{{"job": "j", "execution_id": "1"}}, {{"job": "j", "execution_id": "2", "params": {{"x": [{number}]}}}}]'
    errors = errors_of(parse_executions, decode_json(body.encode()), max_batch=10)
    assert errors == [{"index": 1, "field": "params", "message": "NaN/Infinity is not valid JSON"}]


@pytest.mark.parametrize("number", ["NaN", "1e999"])
def test_nan_or_infinity_elsewhere_is_a_field_error_not_a_crash(number):
    body = f'[{{"job": "j", "execution_id": "1", "shard_id": "s", "index": {number}, "labels": {{"a": {number}}}}}]'
    errors = errors_of(parse_shards, decode_json(body.encode()), max_batch=10)
    assert {(e["index"], e["field"]) for e in errors} == {(0, "index"), (0, "labels")}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"job": "j", "execution_id": "1", "params": {"n": ' + b"1" * 5000 + b"}}", "4,300 digits"),
        (b'{"job": "j", "execution_id": "1", "params": {"n": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}", "deeply"),
    ],
)
def test_json_python_cannot_read_is_a_body_error_not_a_crash(body, words):
    errors = errors_of(decode_json, body)
    assert errors[0]["index"] is None
    assert words in errors[0]["message"]


@pytest.mark.parametrize(
    "moment",
    ["9999-12-31T23:59:59-15:00", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59.999999-00:01"],
)
@pytest.mark.parametrize("parse", [parse_executions, parse_shards])
def test_a_time_outside_years_1_to_9999_in_utc_is_refused_with_its_item_index(parse, moment):
    good = {"job": "j", "execution_id": "1", "shard_id": "s"}
    if parse is parse_executions:
        good.pop("shard_id")
    errors = errors_of(parse, [good, {**good, "started_at": moment}], max_batch=10)
    assert [(e["index"], e["field"]) for e in errors] == [(1, "started_at")]
    assert "out of range" in errors[0]["message"]
    assert moment in errors[0]["message"]


def test_a_time_with_an_offset_postgresql_refuses_is_read_in_utc():
    [record] = parse_executions(
        {"job": "j", "execution_id": "1", "started_at": "2024-01-01T00:00:00+23:00"}, max_batch=10
    )
    assert record.started_at == datetime(2023, 12, 31, 1, 0, tzinfo=UTC)
    assert record.started_at.utcoffset().total_seconds() == 0


def test_an_unpaired_surrogate_is_refused_naming_its_field():
    body = (
        b'[{"job": "j", "execution_id": "1"}, {"job": "j", "execution_id": "2", "envelope": {"event_type": "\\udc00"}}]'
    )
    errors = errors_of(decode_json, body)
    assert [(e["index"], e["field"]) for e in errors] == [(1, "envelope")]
