"""POST /api/v1/executions and /api/v1/shards over HTTP: upserts, echoes, bad input, atomicity, access."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.test import override_settings

from jobs.models import Execution, Job, Shard
from tests import factories

pytestmark = pytest.mark.django_db

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def post(client, path, body, **extra):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(path, data=data, content_type="application/json", **extra)


def snapshot() -> list[tuple]:
    return [
        *Job.objects.order_by("pk").values_list(),
        *Execution.objects.order_by("pk").values_list(),
        *Shard.objects.order_by("pk").values_list(),
    ]


def shard(i: int, **fields) -> dict:
    return {
        "job": "account-migration",
        "execution_id": "run-1",
        "shard_id": f"s{i}",
        "index": i,
        "labels": {"account": str(1000000 + i)},
        "status": "succeeded",
        **fields,
    }


def test_one_execution_object_is_stored_and_echoed_with_its_console_url(api, ns):
    r = post(
        api,
        "/api/v1/executions",
        {
            "job": "nightly export",
            "execution_id": "2024-05-01",
            "status": "running",
            "trace_id": TRACE.upper(),
            "envelope": {"correlation_id": "c-1"},
        },
    )
    assert r.status_code == 200, r.content
    assert r.json() == {
        "received": 1,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "results": [
            {
                "namespace": "payments",
                "job": "nightly export",
                "execution_id": "2024-05-01",
                "url": "/jobs/payments/nightly%20export/runs/2024-05-01/",
            }
        ],
    }
    e = Execution.objects.get()
    assert (e.trace_id, e.correlation_id, e.namespace_id) == (TRACE, "c-1", ns.pk)


def test_a_list_of_shards_is_upserted_and_counted(ingester):
    r = post(ingester, "/api/v1/shards", [shard(i) for i in range(3)])
    assert r.status_code == 200, r.content
    assert (r.json()["created"], r.json()["results"][2]["url"]) == (
        3,
        "/jobs/payments/account-migration/runs/run-1/shards/s2/",
    )
    r = post(ingester, "/api/v1/shards", [shard(0), shard(1, status="failed"), shard(2)])
    assert {k: r.json()[k] for k in ("created", "updated", "unchanged")} == {"created": 0, "updated": 1, "unchanged": 2}


def test_naming_the_tokens_own_namespace_is_fine(api):
    assert post(api, "/api/v1/shards", [shard(0, namespace="payments")]).status_code == 200


def test_the_same_batch_twice_equals_once_over_http(api):
    batch = [shard(i) for i in range(20)]
    post(api, "/api/v1/shards", batch)
    before = snapshot()
    assert post(api, "/api/v1/shards", batch).json()["unchanged"] == 20
    assert snapshot() == before


BAD_BODIES = [
    ("invalid json", b'[{"job": ', None, None),
    ("not a list or object", b"42", None, None),
    ("wrong type", [shard(0), shard(1), shard(2, index="two")], 2, "index"),
    ("trace id not hex", [shard(0), shard(1, trace_id="z" * 32)], 1, "trace_id"),
    ("trace id too short", [shard(0, trace_id=TRACE[:31])], 0, "trace_id"),
    ("span id not 16 hex", [shard(0, span_id="abc")], 0, "span_id"),
    ("unknown status", [shard(0), shard(1), shard(2), shard(3, status="done")], 3, "status"),
    ("missing key field", [shard(0), {"job": "account-migration", "shard_id": "x"}], 1, "execution_id"),
    ("batch over the limit", [shard(i) for i in range(6)], None, None),
]


@override_settings(JOBTRACE_MAX_BATCH=5)
@pytest.mark.parametrize(("case", "body", "index", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_shard_input_is_a_400_naming_item_and_field_and_stores_nothing(api, case, body, index, field):
    post(api, "/api/v1/shards", [shard(i, status="running") for i in range(3)])
    before = snapshot()
    r = post(api, "/api/v1/shards", body)
    assert r.status_code == 400, r.content
    errors = r.json()["errors"]
    assert (errors[0]["index"], errors[0]["field"]) == (index, field)
    assert errors[0]["message"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"job": "j", "execution_id": "1", "trigger": "cron"}, "trigger"),
        ({"job": "j", "execution_id": "1", "status": "finished"}, "status"),
        ({"job": "j", "execution_id": "1", "trace_id": "123"}, "trace_id"),
        ({"job": "j", "execution_id": "1", "envelope": {"trace_id": "123"}}, "envelope.trace_id"),
        ({"job": "j", "execution_id": "1", "started_at": "2024-05-01 12:00"}, "started_at"),
        ({"job": "j"}, "execution_id"),
        ({"job": "j", "execution_id": "1", "params": "a=1"}, "params"),
    ],
)
def test_bad_execution_input_is_a_400_and_the_whole_batch_is_refused(api, item, field):
    factories.execution(factories.job(factories.namespace("payments"), "j"), "1", status="running")
    before = snapshot()
    r = post(api, "/api/v1/executions", [{"job": "j", "execution_id": "1", "status": "failed"}, item])
    assert r.status_code == 400
    assert r.json()["errors"][0] | {"message": ""} == {"index": 1, "field": field, "message": ""}
    assert snapshot() == before


def test_a_batch_naming_another_namespace_is_a_403_naming_both_and_stores_nothing(api, other_ns):
    before = snapshot()
    r = post(api, "/api/v1/shards", [shard(0), shard(1, namespace="search-team")])
    assert r.status_code == 403
    assert "payments" in r.json()["detail"]
    assert "search-team" in r.json()["detail"]
    assert snapshot() == before


@pytest.mark.parametrize("path", ["/api/v1/executions", "/api/v1/shards"])
def test_outsiders_cannot_write(path, anonymous_api, reader, outsider_api, ns):
    body = (
        [{"job": "j", "execution_id": "1", "shard_id": "1"}]
        if path.endswith("shards")
        else [{"job": "j", "execution_id": "1"}]
    )
    named = [{**body[0], "namespace": "payments"}]
    assert post(anonymous_api, path, body).status_code == 401
    r = post(reader, path, body)
    assert r.status_code == 403
    assert "ingest" in r.json()["detail"]
    r = post(outsider_api, path, named)
    assert r.status_code == 403
    assert "search-team" in r.json()["detail"]
    # The outsider's token without a namespace writes into its own namespace, never into ours.
    assert post(outsider_api, path, body).status_code == 200
    assert not Execution.objects.filter(namespace=ns).exists()


def test_an_editor_signed_in_may_ingest_naming_the_namespace(client, ns):
    editor = factories.user(ns, "editor", username="ed")
    client.force_login(editor)
    r = client.post(
        "/api/v1/executions", data=json.dumps({"job": "j", "execution_id": "1"}), content_type="application/json"
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "namespace"
    r = client.post(
        "/api/v1/executions",
        data=json.dumps({"namespace": "payments", "job": "j", "execution_id": "1"}),
        content_type="application/json",
    )
    assert r.status_code == 200


def test_a_viewer_signed_in_may_not_ingest(client, teammate, ns):
    client.force_login(teammate)
    r = client.post(
        "/api/v1/executions",
        data=json.dumps({"namespace": "payments", "job": "j", "execution_id": "1"}),
        content_type="application/json",
    )
    assert r.status_code == 403
    assert not Execution.objects.exists()


def test_a_full_batch_is_a_handful_of_queries_not_one_per_row(api, django_assert_num_queries, monkeypatch):
    monkeypatch.setattr("traces.linking.on_records_changed", lambda executions, shards: None)  # engineer B's queries
    post(api, "/api/v1/shards", [shard(0)])  # the token's first use is recorded once
    batch = [shard(i, execution_id=f"run-{i % 10}") for i in range(1000)]
    # token, savepoint, jobs, executions, placeholders insert + read back, shards upsert (RETURNING what linking
    # needs), the new placeholder executions, the log records these shards may own (traces/logs/linking.py: one query),
    # release savepoint
    with django_assert_num_queries(10):
        r = post(api, "/api/v1/shards", batch)
    assert r.json()["created"] == 1000
    # a resend: token, savepoint, jobs, executions, shards upsert (nothing changed: nothing read back), release
    with django_assert_num_queries(6):
        assert post(api, "/api/v1/shards", batch).json()["unchanged"] == 1000


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_body_over_the_size_limit_is_a_413_that_says_so(api):
    r = post(api, "/api/v1/shards", [shard(i, error="x" * 100) for i in range(20)])
    assert r.status_code == 413
    assert "smaller batches" in r.json()["errors"][0]["message"]
    assert not Shard.objects.exists()


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_or_infinity_in_params_is_a_400_naming_item_and_field_and_stores_nothing(api, number):
    factories.execution(factories.job(factories.namespace("payments"), "j"), "1", status="running")
    before = snapshot()
    body = json.dumps([{"job": "j", "execution_id": "1", "status": "failed"}, {"job": "j", "execution_id": "2"}])
    body = body[:-2] + f', "params": {{"ratio": {number}}}}}]'
    r = post(api, "/api/v1/executions", body)
    assert r.status_code == 400, r.content
    assert r.json()["errors"] == [{"index": 1, "field": "params", "message": "NaN/Infinity is not valid JSON"}]
    assert snapshot() == before


OUT_OF_RANGE = ["9999-12-31T23:59:59-15:00", "0001-01-01T00:00:00+05:00"]


@pytest.mark.parametrize("moment", OUT_OF_RANGE)
def test_an_execution_time_out_of_range_is_a_400_naming_item_and_field_and_stores_nothing(api, moment):
    factories.execution(factories.job(factories.namespace("payments"), "j"), "1", status="running")
    before = snapshot()
    body = [
        {"job": "j", "execution_id": "1", "status": "failed"},
        {"job": "j", "execution_id": "2", "started_at": moment},
    ]
    r = post(api, "/api/v1/executions", body)
    assert r.status_code == 400, r.content
    assert [(e["index"], e["field"]) for e in r.json()["errors"]] == [(1, "started_at")]
    assert "out of range" in r.json()["errors"][0]["message"]
    assert snapshot() == before


@pytest.mark.parametrize("moment", OUT_OF_RANGE)
def test_a_shard_time_out_of_range_is_a_400_naming_item_and_field_and_stores_nothing(api, moment):
    post(api, "/api/v1/shards", [shard(i, status="running") for i in range(2)])
    before = snapshot()
    r = post(api, "/api/v1/shards", [shard(0), shard(1, started_at=moment)])
    assert r.status_code == 400, r.content
    assert [(e["index"], e["field"]) for e in r.json()["errors"]] == [(1, "started_at")]
    assert snapshot() == before


def test_a_time_with_an_offset_beyond_15_59_is_stored_in_utc(api):
    r = post(api, "/api/v1/shards", [shard(0, started_at="2024-01-01T00:00:00+23:00")])
    assert r.status_code == 200, r.content
    assert Shard.objects.get().started_at == datetime(2023, 12, 31, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize("label", ["a%00:b", "a:b%00"])
def test_a_label_filter_with_a_nul_character_is_a_400_naming_the_filter_on_the_api_and_the_page(
    reader, owner, client, ns, label
):
    e = factories.execution(factories.job(ns, "j"), "r")
    factories.shard(e, "s", labels={"a": "b"})
    r = reader.get(f"/api/v1/jobs/payments/j/executions/r/shards?label={label}")
    assert r.status_code == 400, r.content
    assert "NUL" in str(r.json()["label"])
    client.force_login(owner)
    page = client.get(f"/jobs/payments/j/runs/r/?label={label}")
    assert page.status_code == 400  # the page with its error box, as for any bad filter
    assert b"label: " in page.content
    assert b"NUL" in page.content


def test_a_label_filter_with_a_nul_and_a_percent_sign_is_still_a_400(reader, ns):
    factories.execution(factories.job(ns, "j"), "r")
    r = reader.get("/api/v1/jobs/payments/j/executions/r/shards?label=%25s%00:%25(x)s")
    assert r.status_code == 400, r.content
