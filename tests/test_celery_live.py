"""jobtrace_sdk.celery with a real worker process (prefork) on RabbitMQ and Redis, beside
opentelemetry-instrumentation-celery, reporting to the live console: the causal chain of a task that spawned
others, walked through the console's API. (Signals, beat, retries and both instrumentation orders in detail:
sdk/tests/test_celery.py, on Celery's in-memory broker.)"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from jobtrace_sdk import Jobtrace
from jobtrace_sdk.celery import instrument, uninstrument
from opentelemetry.trace import SpanKind

pytestmark = pytest.mark.django_db(transaction=True)

ACCOUNTS = ["1000001", "1000002", "1000003"]


def wait_for(check: Callable[[], Any], what: str, timeout: float = 45) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def api_client(celery_worker, live_console, ns) -> Iterator[Jobtrace]:
    """The publishing side (the test process, 'settlement-api'), instrumented too; the worker's token granted."""
    celery_worker.grant(ns)
    jt = Jobtrace(
        url=live_console.url,
        token=celery_worker.token,
        namespace="payments",
        service_name="settlement-api",
        batch_spans=False,
    )
    instrument(celery_worker.app, jt)
    yield jt
    uninstrument(celery_worker.app)
    jt.shutdown(timeout=5)
    _quiesce()


def _quiesce(timeout: float = 20) -> None:
    """Wait until the worker has stopped reporting (its spans are batched): the database is flushed after each
    test, and a TRUNCATE racing the console's inserts deadlocks."""
    from jobs.models import Execution, Message, Shard
    from traces.models import Span

    def counts() -> tuple[int, ...]:
        return tuple(model.objects.count() for model in (Execution, Shard, Message, Span))

    deadline = time.monotonic() + timeout
    last, stable = counts(), 0
    while stable < 3 and time.monotonic() < deadline:
        time.sleep(0.3)
        now = counts()
        stable = stable + 1 if now == last else 0
        last = now


def _finished(api, correlation_id: str, count: int) -> list[dict[str, Any]] | None:
    results = api.get("/api/v1/executions", {"correlation_id": correlation_id}).json()["results"]
    done = [e for e in results if e["finished_at"] and not e["placeholder"]]
    return done if len(done) == count else None


def test_the_causal_chain_of_a_task_that_spawned_others_walks_through_the_api(celery_worker, api_client, api):
    app = celery_worker.app
    with api_client.span("POST /settlements", kind=SpanKind.SERVER) as request_span:
        # The request's id as the root task's cause: the chain walks back to the request.
        result = app.send_task(
            "payments.nightly_settlement", args=("2026-11-30", ACCOUNTS), headers={"causation_id": "req-1130"}
        )
    request_trace = format(request_span.get_span_context().trace_id, "032x")
    assert api_client.flush(timeout=10)
    root_id = result.id

    # The root, three group members and the follow-on report: five executions of one workflow.
    executions = wait_for(lambda: _finished(api, root_id, 5), "five finished executions")
    by_job: dict[str, list[dict[str, Any]]] = {}
    for e in executions:
        by_job.setdefault(e["job"], []).append(e)
    (root,) = by_job["payments.nightly_settlement"]
    accounts = by_job["payments.settle_account"]
    (report,) = by_job["payments.send_report"]
    assert len(accounts) == 3
    assert root["execution_id"] == root_id
    assert (root["status"], root["trigger"], root["attempt"]) == ("succeeded", "api", 1)
    assert root["envelope"]["message_id"] == root_id
    assert root["envelope"]["correlation_id"] == root_id
    assert root["envelope"]["causation_id"] == "req-1130"
    assert root["trace_id"] == request_trace  # the request's trace, continued through RabbitMQ
    for child in [*accounts, report]:
        assert child["envelope"]["correlation_id"] == root_id
        assert child["envelope"]["causation_id"] == root_id
        assert child["envelope"]["message_id"] == child["execution_id"]
        assert child["trace_id"] == request_trace
        assert child["worker"] == celery_worker.node
    (failed,) = [a for a in accounts if a["status"] == "failed"]
    assert failed["error"] == "ValueError: account 1000002: display_name is 72 characters; at most 64"
    assert report["status"] == "succeeded"

    # The messages API holds the same chain: every message's cause is a message of the workflow (or none, the root).
    messages = api.get("/api/v1/messages", {"correlation_id": root_id}).json()["results"]
    by_id = {m["message_id"]: m for m in messages}
    assert set(by_id) == {e["execution_id"] for e in executions}
    assert by_id[root_id]["causation_id"] == "req-1130"
    assert by_id[root_id]["producer_service"] == "settlement-api"
    for message_id, message in by_id.items():
        if message_id != root_id:
            assert message["causation_id"] == root_id
            assert message["producer_service"] == "settlement-worker"
        assert message["consumed_at"]  # the execution's envelope completed what the publisher reported

    # The group is the root execution's shards, the failing one first.
    shards_url = f"/api/v1/jobs/payments/payments.nightly_settlement/executions/{root_id}/shards"
    shards = wait_for(
        lambda: (s := api.get(shards_url).json()["results"]) and all(x["finished_at"] for x in s) and len(s) == 3 and s,
        "three finished shards",
    )
    assert {s["shard_id"] for s in shards} == {a["execution_id"] for a in accounts}
    assert sorted(s["index"] for s in shards) == [0, 1, 2]
    failing = [s for s in shards if s["status"] == "failed"]
    assert [s["shard_id"] for s in failing] == [failed["execution_id"]]
    assert failing[0]["error"].startswith("ValueError: account 1000002")
    assert all(s["labels"] == {"task": "payments.settle_account"} for s in shards)

    # Walking back from the failing task reaches the root; forward from the root reaches every child.
    back = api.get(f"/api/v1/jobs/payments/payments.settle_account/executions/{failed['execution_id']}/causality")
    assert back.status_code == 200, back.content
    assert root_id in str(back.json()["caused_by"])
    forward = api.get(f"/api/v1/jobs/payments/payments.nightly_settlement/executions/{root_id}/causality").json()
    for child in [*accounts, report]:
        assert child["execution_id"] in str(forward["caused"])
    assert not [g for g in forward["gaps"] if g.get("kind") == "envelope_incomplete"]

    # One trace from the request to every task: our execution spans and opentelemetry-instrumentation-celery's.
    def whole_trace() -> dict[str, Any] | None:
        trace = api.get(f"/api/v1/traces/{request_trace}").json()
        names = [s["name"] for s in trace.get("spans", [])]
        return trace if names.count("run/payments.settle_account") == 3 and "payments.send_report" in names else None

    trace = wait_for(whole_trace, "the spans of every task")
    spans = trace["spans"]
    services = {s["service"] for s in spans}
    assert {"settlement-api", "settlement-worker"} <= services
    failing_span = next(s for s in spans if s["span_id"] == failing[0]["span_id"])
    assert failing_span["status"]["code"].lower() == "error"
    assert failing_span["shard_id"] == failed["execution_id"]  # the subtree of the shard's span
    assert failing_span["attributes"]["job.execution.id"] == failed["execution_id"]
    otel_runs = [s for s in spans if s["name"] == "run/payments.settle_account"]
    assert {s["attributes"]["job.execution.id"] for s in otel_runs} == {a["execution_id"] for a in accounts}


def test_a_retried_task_is_one_execution_at_its_last_attempt(celery_worker, api_client, api):
    result = celery_worker.app.send_task("payments.flaky_fetch")
    execution = wait_for(
        lambda: (
            (e := api.get(f"/api/v1/jobs/payments/payments.flaky_fetch/executions/{result.id}")).status_code == 200
            and e.json()["status"] == "succeeded"
            and e.json()
        ),
        "the third attempt",
    )
    assert (execution["attempt"], execution["trigger"]) == (3, "retry")
    assert execution["envelope"]["message_id"] == result.id
    listed = api.get("/api/v1/executions", {"job": "payments.flaky_fetch"}).json()["results"]
    assert [e["execution_id"] for e in listed] == [result.id]


def test_walking_back_from_a_group_member_ends_at_the_request_that_published_the_root(celery_worker, api_client, api):
    with api_client.span("POST /settlements", kind=SpanKind.SERVER):
        result = celery_worker.app.send_task(
            "payments.nightly_settlement",
            args=("2026-12-01", ["1000001", "1000003"]),
            headers={"causation_id": "req-1201"},
        )
    assert api_client.flush(timeout=10)
    executions = wait_for(lambda: _finished(api, result.id, 4), "four finished executions")
    member = next(e for e in executions if e["job"] == "payments.settle_account")
    back = api.get(f"/api/v1/jobs/payments/payments.settle_account/executions/{member['execution_id']}/causality")
    hops = back.json()["caused_by"]["hops"]
    assert [h["kind"] for h in hops] == ["message", "message", "request"]
    assert hops[-1]["id"] == "req-1201"
