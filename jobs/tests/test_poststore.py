"""Post-store steps: registered by their owners, run in their order inside the write's transaction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import transaction

from jobs.ingest import parse_executions, parse_shards
from jobs.models import Execution, Shard
from jobs.poststore import Steps, StoredRecords, record_steps
from jobs.store import upsert_executions, upsert_shards


def test_steps_run_by_their_order_whatever_the_order_they_were_registered_in():
    ran: list[str] = []
    steps: Steps[int] = Steps("tests")
    steps.register("late", lambda n: ran.append(f"late {n}"), order=300)
    steps.register("early", lambda n: ran.append(f"early {n}"), order=100)
    steps.register("middle", lambda n: ran.append(f"middle {n}"), order=200)
    steps.run(7)
    assert ran == ["early 7", "middle 7", "late 7"]
    assert steps.names() == ["early", "middle", "late"]


def test_two_steps_never_share_an_order_and_a_name_registered_again_replaces_its_step():
    ran: list[str] = []
    steps: Steps[int] = Steps("tests")
    steps.register("a", lambda n: ran.append("first a"), order=100)
    with pytest.raises(ValueError, match="order 100 after tests is taken by 'a'"):
        steps.register("b", lambda n: ran.append("b"), order=100)
    steps.register("a", lambda n: ran.append("second a"), order=100)
    steps.run(0)
    assert ran == ["second a"]
    steps.unregister("a")
    steps.run(0)
    assert ran == ["second a"]


def test_after_records_linking_runs_then_the_logs_the_message_envelopes_then_the_missed_ticks():
    assert record_steps.names() == ["linking", "log linking", "message envelopes", "missed ticks"]


@pytest.fixture
def seen() -> Iterator[list[StoredRecords]]:
    calls: list[StoredRecords] = []
    record_steps.register("test: seen", calls.append, order=10_000)
    yield calls
    record_steps.unregister("test: seen")


@pytest.mark.django_db
def test_a_record_step_is_handed_the_rows_created_or_changed_and_nothing_else(ns, seen):
    items = [{"job": "j", "execution_id": "1", "status": "running"}]
    upsert_executions(ns, parse_executions(items, max_batch=10))
    upsert_executions(ns, parse_executions(items, max_batch=10))  # a resend changes nothing
    upsert_shards(ns, parse_shards([{"job": "j", "execution_id": "2", "shard_id": "a"}], max_batch=10))
    assert [([e.execution_id for e in s.executions], [x.shard_id for x in s.shards]) for s in seen] == [
        (["1"], []),
        ([], []),
        (["2"], ["a"]),  # the placeholder execution the shard created, and the shard
    ]


@pytest.mark.django_db
def test_a_record_step_that_fails_rolls_the_records_back(ns):
    def broken(stored: StoredRecords) -> None:
        raise RuntimeError("step failed")

    record_steps.register("test: broken", broken, order=10_000)
    try:
        # The writer joins its caller's transaction (the API view's: one per request), as here.
        with pytest.raises(RuntimeError, match="step failed"), transaction.atomic():
            upsert_shards(ns, parse_shards([{"job": "j", "execution_id": "1", "shard_id": "a"}], max_batch=10))
    finally:
        record_steps.unregister("test: broken")
    assert not Execution.objects.exists()
    assert not Shard.objects.exists()
