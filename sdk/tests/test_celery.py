"""jobtrace_sdk.celery with a real Celery worker (in this process, on Celery's in-memory broker) and celery beat,
against the capture console; beside opentelemetry-instrumentation-celery in both orders of instrumentation. The
same against RabbitMQ and Redis with a worker process and the live console: tests/test_celery_live.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

celery = pytest.importorskip("celery")

from celery import Celery, group  # noqa: E402
from celery.beat import Service  # noqa: E402
from celery.contrib.testing.worker import start_worker  # noqa: E402
from jobtrace_sdk import Jobtrace, current_execution  # noqa: E402
from jobtrace_sdk.celery import instrument, uninstrument  # noqa: E402
from jobtrace_sdk.testing import CaptureConsole  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

app = Celery("shop", broker="memory://", backend="cache+memory://")
app.conf.update(worker_hijack_root_logger=False, task_default_queue="jobtrace-unit", broker_connection_retry=False)
seen: dict[str, dict[str, Any]] = {}


@app.task(name="shop.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="shop.fail")
def fail() -> None:
    raise ValueError("boom: field too long")


@app.task(name="shop.flaky", bind=True, max_retries=2)
def flaky(self: Any) -> str:
    if self.request.retries < 1:
        raise self.retry(exc=ConnectionError("database away"), countdown=0)
    return "ok"


@app.task(name="shop.fan_out", bind=True)
def fan_out(self: Any, n: int) -> str:
    group(add.s(i, i) for i in range(n)).apply_async()
    add.delay(100, 1)
    return self.request.id


@app.task(name="shop.where", bind=True)
def where(self: Any, key: str) -> None:
    run = current_execution()
    span = trace.get_current_span().get_span_context()
    seen[key] = {
        "execution": run.execution_id if run else None,
        "trace_id": format(span.trace_id, "032x"),
        "span_id": format(span.span_id, "016x"),
    }


@pytest.fixture(scope="module")
def console() -> Iterator[CaptureConsole]:
    with CaptureConsole(default_rate=1.0) as c:
        yield c


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
def worker(console, spans) -> Iterator[Jobtrace]:
    jt = Jobtrace(
        url=console.url, token="t", namespace="shop", service_name="shop-worker", exporter=spans, batch_spans=False
    )
    instrument(app, jt)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield jt
    finally:
        uninstrument(app)
        jt.shutdown(timeout=2)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def finished(console: CaptureConsole, execution_id: str) -> dict[str, Any] | None:
    record = console.latest("executions").get(execution_id)
    return record if record and record.get("finished_at") else None


def span_of(spans: InMemorySpanExporter, execution_id: str) -> Any:
    return next(
        s
        for s in spans.get_finished_spans()
        if s.attributes.get("job.execution.id") == execution_id and s.kind == trace.SpanKind.CONSUMER
    )


def test_a_task_run_is_an_execution_and_its_message_the_envelope(worker, console, spans):
    result = add.delay(2, 3)
    record = wait_for(lambda: finished(console, result.id), "the execution")
    assert record["job"] == "shop.add"
    assert record["namespace"] == "shop"
    assert record["status"] == "succeeded"
    assert (record["trigger"], record["attempt"]) == ("api", 1)
    assert record["worker"]  # the worker node (request.hostname)
    assert record["envelope"]["message_id"] == result.id
    assert record["envelope"]["correlation_id"] == result.id  # a root task is its own workflow
    assert "causation_id" not in record["envelope"]
    published = {m["message_id"]: m for m in console.records("messages")}[result.id]
    assert published["operation"] == "publish"
    assert published["event_type"] == "shop.add"
    span = span_of(spans, result.id)
    assert format(span.context.trace_id, "032x") == record["trace_id"]
    assert span.attributes["messaging.message.id"] == result.id
    assert span.attributes["job.status"] == "succeeded"


def test_a_failing_task_fails_its_execution_with_the_exception_type(worker, console, spans):
    result = fail.delay()
    record = wait_for(lambda: finished(console, result.id), "the execution")
    assert record["status"] == "failed"
    assert record["error"] == "ValueError: boom: field too long"
    span = span_of(spans, result.id)
    assert span.status.status_code == trace.StatusCode.ERROR
    (event,) = [e for e in span.events if e.name == "exception"]
    assert event.attributes["exception.type"] == "ValueError"
    assert "raise ValueError" in event.attributes["exception.stacktrace"]


def test_a_retry_is_the_next_attempt_of_the_same_execution(worker, console, spans):
    result = flaky.delay()
    record = wait_for(lambda: (r := finished(console, result.id)) and r["attempt"] == 2 and r, "the retry")
    assert (record["trigger"], record["status"]) == ("retry", "succeeded")
    attempts = [r["attempt"] for r in console.records("executions") if r["execution_id"] == result.id]
    assert attempts == sorted(attempts)  # never an older attempt after a newer one (it may be coalesced away)
    # Attempt 1's end is superseded by attempt 2 (the console keeps the latest attempt); its span keeps the reason.
    first, second = sorted(
        (s for s in spans.get_finished_spans() if s.attributes.get("job.execution.id") == result.id),
        key=lambda s: s.attributes["job.attempt"],
    )
    assert first.status.status_code == trace.StatusCode.ERROR
    assert first.status.description == "retrying: ConnectionError: database away"
    assert first.attributes["celery.state"] == "RETRY"
    assert second.context.trace_id == first.context.trace_id  # the retry continues the first attempt's trace
    assert second.parent.span_id == first.context.span_id
    assert record["trace_id"] == format(first.context.trace_id, "032x")


def test_tasks_started_by_a_task_follow_the_identity_rules_and_a_group_is_its_shards(worker, console, spans):
    root = fan_out.delay(3)
    wait_for(lambda: finished(console, root.id), "the parent")
    wait_for(lambda: len(console.latest("shards", key="shard_id")) >= 3, "three shards")
    parent = finished(console, root.id)
    children = wait_for(
        lambda: (
            [
                r
                for r in console.latest("executions").values()
                if r.get("envelope", {}).get("causation_id") == root.id and r.get("finished_at")
            ]
            if len(
                [
                    r
                    for r in console.latest("executions").values()
                    if r.get("envelope", {}).get("causation_id") == root.id and r.get("finished_at")
                ]
            )
            == 4
            else None
        ),
        "four children",
    )
    for child in children:
        assert child["envelope"]["correlation_id"] == root.id
        assert child["job"] == "shop.add"
        assert child["trace_id"] == parent["trace_id"]  # the publisher's trace, continued
    shards = {
        s["shard_id"]: s for s in console.latest("shards", key="shard_id").values() if s["execution_id"] == root.id
    }
    members = {c["execution_id"]: c for c in children}
    assert len(shards) == 3  # the group's members; the lone add.delay is a child, not a shard
    assert set(shards) < set(members)
    assert sorted(s["index"] for s in shards.values()) == [0, 1, 2]
    for shard_id, shard in shards.items():
        assert shard["job"] == "fan_out" or shard["job"] == "shop.fan_out"
        assert shard["status"] == "succeeded"
        assert shard["labels"] == {"task": "shop.add"}
        member = span_of(spans, shard_id)
        assert shard["span_id"] == format(member.context.span_id, "016x")
        assert shard["trace_id"] == members[shard_id]["trace_id"]
    parent_span = span_of(spans, root.id)
    for child in children:
        child_span = span_of(spans, child["execution_id"])
        assert child_span.parent.span_id == parent_span.context.span_id  # no producer span without OTel


def test_beat_runs_are_scheduled(worker, console, tmp_path):
    app.conf.beat_schedule = {"tick": {"task": "shop.add", "schedule": 0.3, "args": (40, 2)}}
    service = Service(app, schedule_filename=str(tmp_path / "beat-schedule"), max_interval=0.2)
    beat = threading.Thread(target=service.start, name="beat", daemon=True)
    beat.start()
    try:
        record = wait_for(
            lambda: next(
                (
                    r
                    for r in console.latest("executions").values()
                    if r["trigger"] == "scheduled" and r.get("finished_at")
                ),
                None,
            ),
            "a run sent by beat",
        )
    finally:
        service.stop(wait=True)
        app.conf.beat_schedule = {}
    assert record["job"] == "shop.add"
    assert record["status"] == "succeeded"
    assert record["scheduled_at"] <= record["started_at"]
    # What this thread (not beat's) publishes is no scheduled run.
    other = add.delay(1, 1)
    assert wait_for(lambda: finished(console, other.id), "a later run")["trigger"] == "api"


@pytest.mark.parametrize("first", ["jobtrace", "opentelemetry"])
def test_beside_opentelemetry_instrumentation_celery_in_either_order(worker, console, spans, first):
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    otel = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(otel))
    instrumentor = CeleryInstrumentor()
    if first == "opentelemetry":  # theirs connected first: ours must restore the context after theirs
        uninstrument(app)
        instrumentor.instrument(tracer_provider=provider)
        instrument(app, worker)
    else:  # ours first: the first task meets the receivers in the other order
        instrumentor.instrument(tracer_provider=provider)
    keys = [f"otel-{first}-{i}" for i in range(3)]
    try:
        runs = [where.delay(key) for key in keys]
        for r in runs:
            wait_for(lambda r=r: finished(console, r.id), "the execution")
        wait_for(lambda: all(key in seen for key in keys), "the task bodies")
    finally:
        instrumentor.uninstrument()
    for key, result in zip(keys, runs, strict=True):
        record = finished(console, result.id)
        ours = span_of(spans, result.id)
        (theirs,) = [
            s
            for s in otel.get_finished_spans()
            if s.name == "run/shop.where" and s.attributes.get("job.execution.id") == result.id
        ]
        # One trace: the task's own span and the execution's, whichever is the parent.
        assert record["trace_id"] == format(theirs.context.trace_id, "032x") == format(ours.context.trace_id, "032x")
        assert theirs.attributes["job.name"] == "shop.where"
        pair = {ours.parent.span_id if ours.parent else None, theirs.parent.span_id if theirs.parent else None}
        assert ours.context.span_id in pair or theirs.context.span_id in pair
        # The task body ran inside the execution, under the innermost of the two spans.
        body = seen[key]
        assert body["execution"] == result.id
        assert body["trace_id"] == record["trace_id"]
        assert body["span_id"] in {format(ours.context.span_id, "016x"), format(theirs.context.span_id, "016x")}
    # Independent tasks stay independent: no context of one task run is left behind for the next.
    assert len({seen[key]["trace_id"] for key in keys}) == 3
    after = where.delay(f"after-{first}")
    wait_for(lambda: f"after-{first}" in seen, "a task after uninstrumenting")
    assert seen[f"after-{first}"]["trace_id"] not in {seen[key]["trace_id"] for key in keys}
    after_record = wait_for(lambda: finished(console, after.id), "its execution")
    assert after_record["trace_id"] == seen[f"after-{first}"]["trace_id"]


def test_a_root_task_names_its_cause_from_a_header_or_the_execution_that_published_it(worker, console):
    by_request = add.apply_async((1, 2), headers={"causation_id": "req-77"})
    with worker.execution("nightly-import", execution_id="imp-1"):
        by_execution = add.delay(3, 4)
    for result, cause in ((by_request, "req-77"), (by_execution, "imp-1")):
        record = wait_for(lambda result=result: finished(console, result.id), "the execution")
        assert record["envelope"]["causation_id"] == cause
        assert record["envelope"]["correlation_id"] == result.id
    published = {m["message_id"]: m for m in console.records("messages")}
    assert published[by_execution.id]["causation_id"] == "imp-1"
    importer = wait_for(lambda: finished(console, "imp-1"), "the importing execution")
    assert finished(console, by_execution.id)["trace_id"] == importer["trace_id"]
