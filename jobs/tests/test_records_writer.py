"""The one write path: merge rules, out-of-order arrival, idempotency, placeholders, the linking hook."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobs.ingest import parse_executions, parse_shards
from jobs.models import Execution, Job, Shard
from jobs.store import duration_ms, upsert_executions, upsert_shards
from tests import factories

T0 = "2024-05-01T12:00:00Z"
T1 = "2024-05-01T12:00:04.250Z"


def run(ns, *items):
    return upsert_executions(ns, parse_executions(list(items), max_batch=1000))


def shards(ns, *items):
    return upsert_shards(ns, parse_shards(list(items), max_batch=1000))


def stored(job="nightly-export", execution_id="1") -> Execution:
    return Execution.objects.get(job__name=job, execution_id=execution_id)


def snapshot() -> list[tuple]:
    return [
        *Job.objects.order_by("pk").values_list(),
        *Execution.objects.order_by("pk").values_list(),
        *Shard.objects.order_by("pk").values_list(),
    ]


pytestmark = pytest.mark.django_db


def test_an_unknown_job_is_created_and_the_execution_stored(ns):
    result = run(ns, {"job": "nightly-export", "execution_id": "1", "status": "running", "started_at": T0})
    assert result.as_counts() == {"received": 1, "created": 1, "updated": 0, "unchanged": 0}
    assert result.jobs_created == 1
    e = stored()
    assert (e.namespace_id, e.job.namespace_id, e.status, e.placeholder) == (ns.pk, ns.pk, "running", False)


def test_the_same_batch_twice_leaves_exactly_the_state_of_once(ns):
    batch = [
        {"job": "nightly-export", "execution_id": str(i), "status": "succeeded", "started_at": T0, "finished_at": T1}
        for i in range(5)
    ]
    run(ns, *batch)
    shards(
        ns, *[{"job": "nightly-export", "execution_id": "1", "shard_id": str(i), "status": "failed"} for i in range(3)]
    )
    before = snapshot()
    again = run(ns, *batch)
    assert again.as_counts() == {"received": 5, "created": 0, "updated": 0, "unchanged": 5}
    assert (
        shards(
            ns,
            *[{"job": "nightly-export", "execution_id": "1", "shard_id": str(i), "status": "failed"} for i in range(3)],
        ).unchanged
        == 3
    )
    assert snapshot() == before


def test_a_late_running_does_not_undo_a_failure_but_fills_what_was_missing(ns):
    run(ns, {"job": "nightly-export", "execution_id": "1", "status": "failed", "finished_at": T1, "error": "boom"})
    run(
        ns,
        {
            "job": "nightly-export",
            "execution_id": "1",
            "status": "running",
            "started_at": T0,
            "worker": "w-1",
            "error": "late",
        },
    )
    e = stored()
    assert (e.status, e.error, e.worker) == ("failed", "boom", "w-1")
    assert e.started_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert e.duration_ms == 4250


@pytest.mark.parametrize("late", ["pending", "running"])
def test_status_never_moves_backwards_from_any_terminal_status(ns, late):
    for terminal in ("succeeded", "failed", "timed_out", "cancelled"):
        run(ns, {"job": "nightly-export", "execution_id": terminal, "status": terminal})
        run(ns, {"job": "nightly-export", "execution_id": terminal, "status": late})
        assert stored(execution_id=terminal).status == terminal


def test_a_later_attempt_is_recorded_and_starts_clean(ns):
    run(
        ns,
        {
            "job": "j",
            "execution_id": "1",
            "attempt": 1,
            "status": "failed",
            "started_at": T0,
            "finished_at": T1,
            "error": "boom",
            "worker": "w-1",
            "params": {"day": "2024-05-01"},
        },
    )
    run(ns, {"job": "j", "execution_id": "1", "attempt": 2, "status": "running", "started_at": T1})
    e = stored("j")
    assert (e.attempt, e.status, e.error, e.worker, e.finished_at, e.duration_ms) == (2, "running", "", "", None, None)
    assert e.params == {"day": "2024-05-01"}  # not attempt-scoped: kept


def test_an_older_attempt_never_overwrites_a_newer_one(ns):
    run(ns, {"job": "j", "execution_id": "1", "attempt": 2, "status": "running"})
    run(
        ns, {"job": "j", "execution_id": "1", "attempt": 1, "status": "failed", "error": "first try", "finished_at": T1}
    )
    e = stored("j")
    assert (e.attempt, e.status, e.error, e.finished_at) == (2, "running", "", None)


def test_a_late_partial_record_keeps_what_it_does_not_send(ns):
    run(
        ns,
        {
            "job": "j",
            "execution_id": "1",
            "status": "failed",
            "error": "boom",
            "params": {"a": "1"},
            "trace_id": "ab" * 16,
            "envelope": {"correlation_id": "c-1"},
        },
    )
    run(ns, {"job": "j", "execution_id": "1", "status": "failed", "worker": "w-9"})
    e = stored("j")
    assert (e.error, e.params, e.trace_id, e.correlation_id, e.worker) == ("boom", {"a": "1"}, "ab" * 16, "c-1", "w-9")


def test_a_shard_before_its_execution_makes_a_placeholder_that_the_execution_fills(ns):
    result = shards(ns, {"job": "account-migration", "execution_id": "77", "shard_id": "0", "status": "running"})
    assert result.placeholders_created == 1
    e = stored("account-migration", "77")
    assert (e.placeholder, e.status) == (True, "pending")
    run(ns, {"job": "account-migration", "execution_id": "77", "status": "running", "trigger": "manual", "attempt": 1})
    e.refresh_from_db()
    assert (e.placeholder, e.status, e.trigger) == (False, "running", "manual")
    assert Shard.objects.get().execution_id == e.pk


def test_shards_merge_forward_like_executions(ns):
    key = {"job": "j", "execution_id": "1", "shard_id": "17"}
    shards(
        ns, {**key, "status": "failed", "finished_at": T1, "error": "field too long", "labels": {"account": "1000002"}}
    )
    shards(ns, {**key, "status": "running", "started_at": T0, "worker": "w-2", "labels": {"account": "other"}})
    s = Shard.objects.get()
    assert (s.status, s.error, s.worker, s.labels, s.duration_ms) == (
        "failed",
        "field too long",
        "w-2",
        {"account": "1000002"},
        4250,
    )


def test_the_same_key_twice_in_one_batch_is_applied_in_order(ns):
    key = {"job": "j", "execution_id": "1", "shard_id": "1"}
    result = shards(ns, {**key, "status": "running", "worker": "w"}, {**key, "status": "succeeded", "finished_at": T1})
    assert result.as_counts() == {"received": 2, "created": 1, "updated": 0, "unchanged": 0}
    s = Shard.objects.get()
    assert (s.status, s.worker, s.finished_at is not None) == ("succeeded", "w", True)


def test_the_linking_hook_gets_the_rows_created_or_changed(ns, monkeypatch):
    calls = []
    monkeypatch.setattr(
        "traces.linking.on_records_changed",
        lambda e, s: calls.append(([x.execution_id for x in e], [x.shard_id for x in s])),
    )
    shards(ns, {"job": "j", "execution_id": "1", "shard_id": "a"}, {"job": "j", "execution_id": "1", "shard_id": "b"})
    shards(
        ns,
        {"job": "j", "execution_id": "1", "shard_id": "a"},
        {"job": "j", "execution_id": "1", "shard_id": "b", "status": "running"},
    )
    run(ns, {"job": "j", "execution_id": "1", "status": "running"})
    assert calls == [(["1"], ["a", "b"]), ([], ["b"]), (["1"], [])]


def test_records_of_one_namespace_never_touch_another_namespaces_job_of_the_same_name(ns, other_ns):
    theirs = factories.execution(factories.job(other_ns, "nightly-export"), "1", status="running")
    run(ns, {"job": "nightly-export", "execution_id": "1", "status": "failed"})
    theirs.refresh_from_db()
    assert theirs.status == "running"
    assert Execution.objects.filter(namespace=ns).get().status == "failed"


def test_duration_is_whole_milliseconds_and_none_when_unknown_or_negative():
    a = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    b = datetime(2024, 5, 1, 12, 0, 1, 499, tzinfo=UTC)
    assert duration_ms(a, b) == 1000
    assert duration_ms(a, b.replace(microsecond=500)) == 1001  # half up
    assert duration_ms(a, None) is None
    assert duration_ms(b, a) is None


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_for_the_same_new_execution_neither_fail_nor_duplicate(ns):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers on one file lock, there is no race to test")
    batch = [{"job": "race", "execution_id": "1", "shard_id": str(i), "status": "running"} for i in range(200)]
    later = [{**item, "status": "succeeded"} for item in batch]

    def send(items):
        try:
            return shards(ns, *items).as_counts()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(send, [batch, later, batch[::-1], later[::-1]]))
    assert sum(r["created"] for r in results) == 200
    assert Execution.objects.filter(job__name="race").count() == 1
    assert set(Shard.objects.values_list("status", flat=True)) == {"succeeded"}


def test_keys_are_scoped_to_their_parents(ns):
    shards(
        ns,
        {"job": "a", "execution_id": "1", "shard_id": "0"},
        {"job": "a", "execution_id": "2", "shard_id": "0"},
        {"job": "b", "execution_id": "1", "shard_id": "0"},
    )
    run(ns, {"job": "a", "execution_id": "1", "status": "running"}, {"job": "b", "execution_id": "1"})
    assert Job.objects.filter(namespace=ns).count() == 2
    assert sorted(Execution.objects.values_list("job__name", "execution_id", "placeholder")) == [
        ("a", "1", False),
        ("a", "2", True),
        ("b", "1", False),
    ]
    assert Shard.objects.filter(shard_id="0").count() == 3
