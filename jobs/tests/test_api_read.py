"""GET jobs, executions and shards: scoping, filters, pagination, pinned query counts, outsiders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from jobs.filtersets import ExecutionFilterSet, ShardFilterSet
from jobs.models import Execution, Shard
from tests import factories

pytestmark = pytest.mark.django_db

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def migration(ns):
    """The failing-shard scenario: account 1000002's shard fails."""
    job = factories.job(ns, "account-migration")
    run = factories.execution(job, "run-1", status="failed", trace_id=TRACE, correlation_id="wf-9")
    for i, status in enumerate(["succeeded", "succeeded", "failed", "succeeded"]):
        factories.shard(
            run, f"s{i}", index=i, status=status, labels={"account": str(1000000 + i)}, trace_id=TRACE if i == 2 else ""
        )
    return run


@pytest.fixture
def theirs(other_ns):
    job = factories.job(other_ns, "account-migration")
    run = factories.execution(job, "run-1", status="running", trace_id="ab" * 16)
    factories.shard(run, "s0", labels={"account": "1000002"})
    return run


def test_jobs_list_shows_only_the_callers_namespace(reader, migration, theirs):
    r = reader.get("/api/v1/jobs")
    assert r.status_code == 200
    [job] = r.json()["results"]
    assert job == {
        **job,
        "namespace": "payments",
        "name": "account-migration",
        "url": "/jobs/payments/account-migration/",
    }


def test_job_detail_and_another_namespaces_job_is_a_404(reader, outsider_api, migration):
    assert reader.get("/api/v1/jobs/payments/account-migration").json()["name"] == "account-migration"
    assert outsider_api.get("/api/v1/jobs/payments/account-migration").status_code == 404
    assert reader.get("/api/v1/jobs/search-team/account-migration").status_code == 404


def test_executions_list_with_every_field_and_console_urls(reader, migration, theirs):
    [item] = reader.get("/api/v1/executions").json()["results"]
    assert set(item) == {
        "namespace",
        "job",
        "execution_id",
        "trigger",
        "status",
        "scheduled_at",
        "started_at",
        "finished_at",
        "duration_ms",
        "attempt",
        "worker",
        "params",
        "error",
        "trace_id",
        "sampled",
        "envelope",
        "placeholder",
        "received_at",
        "updated_at",
        "url",
        "trace_url",
    }
    assert item["url"] == "/jobs/payments/account-migration/runs/run-1/"
    assert item["trace_url"] == f"/traces/{TRACE}/"
    assert item["envelope"]["correlation_id"] == "wf-9"


def test_execution_filters(reader, ns, migration):
    job = migration.job
    old = factories.execution(
        job, "run-0", status="succeeded", trigger="manual", started_at=timezone.now() - timedelta(days=3)
    )

    def ids(query: str) -> list[str]:
        r = reader.get(f"/api/v1/executions?{query}")
        assert r.status_code == 200, r.content
        return sorted(e["execution_id"] for e in r.json()["results"])

    assert ids("status=failed") == ["run-1"]
    assert ids("status=failed&status=succeeded") == ["run-0", "run-1"]
    assert ids("trigger=manual") == ["run-0"]
    assert ids("since=24h") == ["run-1"]
    assert ids(f"until={(timezone.now() - timedelta(days=1)).isoformat().replace('+00:00', 'Z')}") == ["run-0"]
    assert ids(f"trace_id={TRACE.upper()}") == ["run-1"]
    assert ids("correlation_id=wf-9") == ["run-1"]
    assert ids("job=account-migration&namespace=payments") == ["run-0", "run-1"]
    assert ids("job=nope") == []
    assert old.pk


def test_a_trace_id_of_one_shard_finds_its_execution(reader, ns):
    run = factories.execution(factories.job(ns, "j"), "r")
    factories.shard(run, "s", trace_id="cd" * 16)
    assert [e["execution_id"] for e in reader.get(f"/api/v1/executions?trace_id={'cd' * 16}").json()["results"]] == [
        "r"
    ]


@pytest.mark.parametrize("query", ["status=done", "since=yesterday", "trace_id=xyz"])
def test_a_bad_filter_is_a_400_naming_it(reader, migration, query):
    r = reader.get(f"/api/v1/executions?{query}")
    assert r.status_code == 400
    assert query.split("=")[0] in r.json()


def test_execution_detail_counts_its_shards_and_outsiders_get_404(reader, outsider_api, migration):
    r = reader.get("/api/v1/jobs/payments/account-migration/executions/run-1")
    assert r.status_code == 200
    assert r.json()["shard_counts"] == {"total": 4, "by_status": {"succeeded": 3, "failed": 1}}
    assert outsider_api.get("/api/v1/jobs/payments/account-migration/executions/run-1").status_code == 404


def test_shards_filtered_by_label_find_account_1000002(reader, migration, theirs):
    r = reader.get("/api/v1/jobs/payments/account-migration/executions/run-1/shards?label=account:1000002")
    assert r.status_code == 200
    [item] = r.json()["results"]
    assert (item["shard_id"], item["status"], item["labels"]) == ("s2", "failed", {"account": "1000002"})
    assert item["url"] == "/jobs/payments/account-migration/runs/run-1/shards/s2/"
    assert item["trace_url"] == f"/traces/{TRACE}/"


def test_shards_filtered_by_status(reader, migration):
    r = reader.get("/api/v1/jobs/payments/account-migration/executions/run-1/shards?status=failed")
    assert [s["shard_id"] for s in r.json()["results"]] == ["s2"]
    r = reader.get("/api/v1/jobs/payments/account-migration/executions/run-1/shards?label=account")
    assert r.status_code == 400


def test_the_filtersets_work_on_their_own_for_pages(migration, theirs):
    shards = ShardFilterSet(
        {"label": "account:1000002"}, queryset=Shard.objects.in_namespaces([migration.namespace_id])
    )
    assert [s.shard_id for s in shards.qs] == ["s2"]
    runs = ExecutionFilterSet({"status": ["failed"], "q": "migr"}, queryset=Execution.objects.all())
    assert [e.execution_id for e in runs.qs] == ["run-1"]


PATHS = [
    "/api/v1/jobs",
    "/api/v1/jobs/payments/account-migration",
    "/api/v1/executions",
    "/api/v1/jobs/payments/account-migration/executions/run-1",
    "/api/v1/jobs/payments/account-migration/executions/run-1/shards",
]


@pytest.mark.parametrize("path", PATHS)
def test_outsiders_never_see_our_data(path, migration, anonymous_api, ingester, outsider_api):
    assert anonymous_api.get(path).status_code == 401
    assert ingester.get(path).status_code == 403  # an ingest-only token may not read
    r = outsider_api.get(path)
    if path in ("/api/v1/jobs", "/api/v1/executions"):
        assert r.status_code == 200
        assert r.json()["results"] == []
    else:
        assert r.status_code == 404
    assert b"payments" not in r.content
    assert b"run-1" not in r.content


def test_a_signed_in_member_may_read_and_a_signed_in_outsider_may_not_see(client, teammate, outsider, migration):
    for path in PATHS:
        client.force_login(teammate)
        assert client.get(path).status_code == 200, path
        client.force_login(outsider)
        r = client.get(path)
        assert r.status_code == (200 if path in ("/api/v1/jobs", "/api/v1/executions") else 404), path
        assert b"run-1" not in r.content
        assert b"account-migration" not in r.content


@pytest.mark.parametrize(
    ("path", "queries"),
    [
        # token, page (jobs/executions: one query with their namespace joined)
        ("/api/v1/jobs", 2),
        ("/api/v1/executions", 2),
        ("/api/v1/executions?status=failed&since=7d&trace_id=" + TRACE, 2),
        # token, the execution, the page of shards
        ("/api/v1/jobs/payments/account-migration/executions/run-1/shards", 3),
        # token, the execution, its shard counts, its linked traces
        ("/api/v1/jobs/payments/account-migration/executions/run-1", 4),
    ],
)
def test_query_counts_do_not_grow_with_rows(path, queries, reader, ns, migration, django_assert_num_queries):
    jobs = [factories.job(ns, f"job-{i}") for i in range(5)]
    for i in range(30):
        factories.execution(jobs[i % 5], f"extra-{i}")
        factories.shard(migration, f"extra-{i}", index=10 + i)
    reader.get("/api/v1/jobs")  # the token's first use is recorded once
    with django_assert_num_queries(queries):
        assert reader.get(path).status_code == 200


def test_lists_are_cursor_paginated(reader, ns):
    job = factories.job(ns, "j")
    for i in range(5):
        factories.execution(job, f"r{i}")
    first = reader.get("/api/v1/executions?limit=2").json()
    assert len(first["results"]) == 2
    assert first["next"]
    second = reader.get(first["next"]).json()
    assert {e["execution_id"] for e in first["results"]}.isdisjoint(e["execution_id"] for e in second["results"])


def test_a_label_key_or_value_with_odd_characters_is_matched_literally(reader, ns):
    run = factories.execution(factories.job(ns, "j"), "r")
    factories.shard(run, "a", labels={"acct__id": "x:1", "region": "eu"})
    factories.shard(run, "b", labels={"acct": {"id": "x:1"}, "region": "eu"})
    r = reader.get("/api/v1/jobs/payments/j/executions/r/shards?label=acct__id:x:1")
    assert [s["shard_id"] for s in r.json()["results"]] == ["a"]


def test_an_id_with_a_nul_character_is_a_404_not_a_server_error(reader, migration):
    assert reader.get("/api/v1/jobs/payments/account-migration%00/executions/run-1").status_code == 404
    assert reader.get("/api/v1/jobs/payments/account-migration/executions/run%00/shards").status_code == 404


@pytest.mark.parametrize("query", ["trace_id=50%25", "since=50%25d", "label=%25s"])
def test_a_percent_sign_in_a_bad_filter_value_is_a_400_not_a_server_error(reader, migration, query):
    path = (
        "/api/v1/jobs/payments/account-migration/executions/run-1/shards" if "label" in query else "/api/v1/executions"
    )
    response = reader.get(f"{path}?{query}")
    assert response.status_code == 400
    assert "%" in response.content.decode()


def test_a_time_with_an_offset_postgresql_cannot_store_is_read_in_utc(reader, ns, migration):
    # 2024-01-01T00:00:00-22:39 is 2024-01-01T22:39:00Z; PostgreSQL refuses the -22:39 offset itself.
    job = factories.job(ns, "old-runs")
    factories.execution(job, "before", started_at=datetime(2024, 1, 1, 20, 0, tzinfo=UTC))
    factories.execution(job, "after", started_at=datetime(2024, 1, 1, 23, 0, tzinfo=UTC))
    response = reader.get("/api/v1/executions", {"since": "2024-01-01T00:00:00-22:39", "job": "old-runs"})
    assert response.status_code == 200
    assert [e["execution_id"] for e in response.json()["results"]] == ["after"]
