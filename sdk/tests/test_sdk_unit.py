"""The SDK without a console: span shape (real OTel SDK, in-memory exporter), records and OTLP over real HTTP to a
loopback capture console, propagation through a real HTTP call and a message envelope, a console that is down."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from jobtrace_sdk import (
    Envelope,
    HttpTaskRunner,
    Jobtrace,
    SimClock,
    current_execution,
    extract_context,
    inject_headers,
    job_baggage,
    new_envelope,
)
from jobtrace_sdk.config import Config
from jobtrace_sdk.testing import CaptureConsole
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def _jt(exporter: InMemorySpanExporter, **kw: Any) -> Jobtrace:
    return Jobtrace(url="", namespace="shop", service_name="nightly-worker", exporter=exporter, batch_spans=False, **kw)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def console() -> Iterator[CaptureConsole]:
    with CaptureConsole(default_rate=1.0) as c:
        yield c


def _by_name(exporter: InMemorySpanExporter) -> dict[str, Any]:
    return {s.name: s for s in exporter.get_finished_spans()}


def test_an_execution_starts_a_root_span_carrying_the_job_attributes(exporter):
    clock = SimClock(T0)
    jt = _jt(exporter, clock=clock)
    with jt.execution("nightly-export", execution_id="run-1", trigger="scheduled", attempt=2) as run:
        assert current_execution() is run
        clock.advance(4.5)
    jt.flush()
    (root,) = exporter.get_finished_spans()
    assert root.parent is None
    assert format(root.context.trace_id, "032x") == run.trace_id
    assert root.attributes["job.namespace"] == "shop"
    assert root.attributes["job.name"] == "nightly-export"
    assert root.attributes["job.execution.id"] == "run-1"
    assert root.attributes["job.trigger"] == "scheduled"
    assert root.attributes["job.attempt"] == 2
    assert root.end_time - root.start_time == 4_500_000_000
    assert run.status == "succeeded"
    assert current_execution() is None


def test_an_exception_is_recorded_on_the_span_marks_it_error_and_fails_the_execution(exporter):
    jt = _jt(exporter)
    with pytest.raises(ValueError, match="boom"), jt.execution("nightly-export") as run:
        raise ValueError("boom")
    (root,) = exporter.get_finished_spans()
    assert root.status.status_code == StatusCode.ERROR
    (event,) = root.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "boom"
    assert "raise ValueError" in event.attributes["exception.stacktrace"]
    assert run.status == "failed"
    assert run.record()["error"] == "ValueError: boom"


def test_the_decorator_runs_each_call_as_an_execution_with_its_params(exporter):
    jt = _jt(exporter)

    @jt.job("reindex", trigger="manual")
    def reindex(*, index: str) -> str:
        run = current_execution()
        assert run is not None
        return run.execution_id

    first, second = reindex(index="products"), reindex(index="users")
    assert first != second
    spans = exporter.get_finished_spans()
    assert [s.attributes["job.execution.id"] for s in spans] == [first, second]
    assert {s.attributes["job.trigger"] for s in spans} == {"manual"}


def test_child_layout_shards_are_spans_inside_the_execution_trace(exporter):
    jt = _jt(exporter)
    with jt.execution("account-migration") as run, run.shard("s-7", labels={"account": 1000002}, index=7) as shard:
        pass
    spans = _by_name(exporter)
    shard_span, root = spans["shard s-7"], spans["account-migration"]
    assert shard_span.context.trace_id == root.context.trace_id
    assert shard_span.parent.span_id == root.context.span_id
    assert shard_span.attributes["job.shard.id"] == "s-7"
    assert shard_span.attributes["job.shard.label.account"] == "1000002"
    record = shard.record()
    assert record["trace_id"] == run.trace_id
    assert record["span_id"] == format(shard_span.context.span_id, "016x")
    assert (record["labels"], record["index"], record["status"]) == ({"account": "1000002"}, 7, "succeeded")


def test_trace_layout_shards_get_a_new_trace_linked_to_the_execution_span(exporter):
    jt = _jt(exporter)
    with jt.execution("account-migration") as run, run.shard("s-1", layout="trace") as shard, jt.span("db.write"):
        pass
    spans = _by_name(exporter)
    shard_span, root, child = spans["shard s-1"], spans["account-migration"], spans["db.write"]
    assert shard_span.parent is None
    assert shard_span.context.trace_id != root.context.trace_id
    (link,) = shard_span.links
    assert (link.context.trace_id, link.context.span_id) == (root.context.trace_id, root.context.span_id)
    assert child.context.trace_id == shard_span.context.trace_id
    # Job attributes reach spans inside the shard through baggage.
    assert child.attributes["job.shard.id"] == "s-1"
    assert child.attributes["job.execution.id"] == run.execution_id
    assert shard.record()["trace_id"] == format(shard_span.context.trace_id, "032x")


def test_a_worker_elsewhere_runs_shards_of_the_coordinators_execution_from_the_task_headers(exporter, console):
    coordinator = _jt(exporter)
    worker = Jobtrace(url=console.url, token="t", namespace="shop", service_name="map-worker", worker="w-7")
    with coordinator.execution("account-migration", execution_id="mig-9", attempt=2) as run:
        task_headers = inject_headers()  # sent with each map task over the queue
    joined = worker.joined_execution(task_headers)
    with joined.shard("acct-1", labels={"account": "1"}, index=0) as shard:
        pass
    worker.shutdown(timeout=10)
    assert (joined.job, joined.execution_id, joined.attempt, joined.namespace) == (
        "account-migration",
        "mig-9",
        2,
        "shop",
    )
    (record,) = console.latest("shards", key="shard_id").values()
    assert (record["execution_id"], record["trace_id"], record["worker"]) == ("mig-9", run.trace_id, "w-7")
    assert record["span_id"] == shard.span_id
    assert console.records("executions") == []  # the execution's record is the coordinator's
    (shard_span,) = [s for s in console.spans() if s["name"] == "shard acct-1"]
    assert shard_span["parent_span_id"] == run.span_id
    assert shard_span["service"] == "map-worker"
    with pytest.raises(ValueError, match="job baggage"):
        worker.joined_execution({"traceparent": task_headers["traceparent"]})


def test_a_failing_shard_with_raise_errors_off_fails_the_execution_but_not_the_loop(exporter):
    jt = _jt(exporter)
    done = []
    with jt.execution("account-migration") as run:
        for account in ("1000001", "1000002", "1000003"):
            with run.shard(f"acct-{account}", labels={"account": account}, raise_errors=False):
                if account == "1000002":
                    raise ValueError("account_name is 70 characters; at most 64 allowed")
                done.append(account)
    assert done == ["1000001", "1000003"]
    assert run.status == "failed"
    assert "1 of 3 shards failed" in run.error
    assert "acct-1000002" in run.error
    failing = _by_name(exporter)["shard acct-1000002"]
    assert failing.status.status_code == StatusCode.ERROR
    assert failing.events[0].attributes["exception.type"] == "ValueError"


def test_records_and_spans_reach_the_console_over_http_with_the_bearer_token(console):
    jt = Jobtrace(url=console.url, token="jt_secret", namespace="shop", service_name="nightly-worker", worker="w-1")
    params = {"day": "2026-03-01"}
    with (
        jt.execution("nightly-export", execution_id="run-9", params=params) as run,
        run.shard("part-0", labels={"region": "eu"}, index=0),
    ):
        pass
    assert jt.shutdown(timeout=10)
    execution = console.latest("executions")["run-9"]
    assert execution["status"] == "succeeded"
    assert execution["namespace"] == "shop"
    assert execution["worker"] == "w-1"
    assert execution["params"] == {"day": "2026-03-01"}
    assert execution["trace_id"] == run.trace_id
    assert execution["sampled"] is True
    assert execution["started_at"].endswith("Z")
    assert execution["finished_at"].endswith("Z")
    (shard,) = console.latest("shards", key="shard_id").values()
    assert shard["labels"] == {"region": "eu"}
    assert shard["status"] == "succeeded"
    spans = console.spans()
    assert {s["name"] for s in spans} == {"nightly-export", "shard part-0"}
    assert {s["trace_id"] for s in spans} == {run.trace_id}
    assert {s["authorization"] for s in spans} == {"Bearer jt_secret"}
    assert {r.headers.get("content-encoding") for r in console.posted("/v1/traces")} == {"gzip"}
    assert {s["service"] for s in spans} == {"nightly-worker"}
    auth = {r.headers.get("authorization") for r in console.posted("/api/v1/")}
    assert auth == {"Bearer jt_secret"}


def test_many_shard_records_are_coalesced_and_posted_in_batches(console):
    jt = Jobtrace(url=console.url, token="t", namespace="shop")
    with jt.execution("account-migration") as run:
        for i in range(1200):
            with run.shard(f"s{i}", index=i):
                pass
    assert jt.shutdown(timeout=20)
    latest = console.latest("shards", key="shard_id")
    assert len(latest) == 1200
    assert all(r["status"] == "succeeded" for r in latest.values())
    posts = console.posted("/api/v1/shards")
    assert len(posts) < 1200 / 10  # lists, not one request per record
    assert max(len(json.loads(p.body)) for p in posts) <= 500
    # No list repeats a shard: a batch never names the same record twice (an upsert could not take it).
    for post in posts:
        ids = [r["shard_id"] for r in json.loads(post.body)]
        assert len(ids) == len(set(ids))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_console_that_is_down_does_not_fail_or_hold_up_the_job(caplog):
    url = f"http://127.0.0.1:{_closed_port()}"
    jt = Jobtrace(url=url, token="t", namespace="shop", export_timeout=1.0)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="jobtrace.sdk"):
        with jt.execution("nightly-export") as run:
            with run.shard("s0"):
                pass
            result = "done"
        job_seconds = time.monotonic() - started
        jt.shutdown(timeout=3)
    assert result == "done"
    assert run.status == "succeeded"
    # One refused policy fetch at most; records are posted off the job's path. Posting them on it would cost
    # 3 attempts x 2 s timeouts; the bounds leave room for a loaded CI machine and still catch that.
    assert job_seconds < 4
    assert time.monotonic() - started < 12
    assert jt.records.stats.dropped >= 1
    assert "could not post" in caplog.text or "unavailable" in caplog.text


def test_a_console_answering_503_is_retried_a_bounded_number_of_times(console):
    console.status = 503
    jt = Jobtrace(url=console.url, token="t", namespace="shop", record_attempts=3)
    with jt.execution("nightly-export"):
        pass
    jt.records.flush(timeout=10)
    assert 3 <= len(console.posted("/api/v1/executions")) <= 6  # start and finish coalesce or go in two posts
    assert jt.records.stats.posted == 0
    jt.shutdown(timeout=1)


# --- propagation --------------------------------------------------------------------------------------------


class _Downstream:
    """A plain http.server with no SDK: it reads traceparent and baggage from each request."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                outer.seen.append({k.lower(): v for k, v in self.headers.items()})
                status = 500 if self.path == "/fail" else 200
                body = b"disk full" if status == 500 else b"ok"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def downstream() -> Iterator[_Downstream]:
    d = _Downstream()
    yield d
    d.close()


def test_trace_context_and_job_baggage_round_trip_through_an_http_call(exporter, downstream):
    jt = _jt(exporter)
    service = jt.service("ServiceApplication")
    with jt.execution("nightly-export", execution_id="run-3", trigger="scheduled") as run:
        from jobtrace_sdk import inject_headers

        requests.post(downstream.url + "/users/save", headers=inject_headers(), timeout=5)
    # A plain user request carries no baggage.
    requests.post(downstream.url + "/users/save", timeout=5)
    scheduled, user = downstream.seen
    assert scheduled["traceparent"].split("-")[1] == run.trace_id
    assert job_baggage(scheduled) == {
        "job.namespace": "shop",
        "job.name": "nightly-export",
        "job.execution.id": "run-3",
        "job.trigger": "scheduled",
        "job.attempt": "1",
    }
    assert job_baggage(user) == {}
    # The server side continues the trace and marks the call as scheduler traffic; user traffic is not marked.
    with service.server_span("POST /users/save", scheduled):
        pass
    with service.server_span("POST /users/save", user):
        pass
    scheduled_span, user_span = [s for s in exporter.get_finished_spans() if s.name == "POST /users/save"]
    assert format(scheduled_span.context.trace_id, "032x") == run.trace_id
    assert scheduled_span.kind == SpanKind.SERVER
    assert scheduled_span.attributes["traffic.origin"] == "scheduler"
    assert scheduled_span.attributes["job.execution.id"] == "run-3"
    assert scheduled_span.resource.attributes["service.name"] == "ServiceApplication"
    assert "traffic.origin" not in user_span.attributes
    assert format(user_span.context.trace_id, "032x") != run.trace_id


def test_an_envelope_follows_the_identity_rules_and_the_consumer_links_back(exporter):
    jt = _jt(exporter)
    with jt.span("POST /orders", kind=SpanKind.SERVER) as request_span:
        created = new_envelope("order.created", cause="req-42", tenant_id="acme", payload={"order": 7})
    # Through a queue: serialised as JSON and read back by another process.
    received = Envelope.from_dict(json.loads(json.dumps(created.to_dict())))
    assert received == created
    assert created.causation_id == "req-42"
    assert created.correlation_id == "req-42"
    assert created.trace_id == format(request_span.get_span_context().trace_id, "032x")
    assert created.span_id == format(request_span.get_span_context().span_id, "016x")
    with jt.execution("order-fulfilment", trigger="event", envelope=received) as run:
        follow_on = new_envelope("order.fulfilled", cause=received)
        implicit = new_envelope("order.audited")  # the triggering message is the cause by default
    assert (implicit.causation_id, implicit.correlation_id, implicit.tenant_id) == (
        created.message_id,
        "req-42",
        "acme",
    )
    assert follow_on.message_id not in (created.message_id, "")
    assert follow_on.correlation_id == "req-42"
    assert follow_on.causation_id == created.message_id
    assert follow_on.tenant_id == "acme"
    assert follow_on.trace_id == run.trace_id
    root = _by_name(exporter)["order-fulfilment"]
    assert run.trace_id != created.trace_id  # a new trace across the queue ...
    (link,) = root.links  # ... with a link to the producer's span
    assert format(link.context.trace_id, "032x") == created.trace_id
    assert format(link.context.span_id, "016x") == created.span_id
    assert root.kind == SpanKind.CONSUMER
    assert root.attributes["messaging.message.id"] == created.message_id
    assert root.attributes["messaging.message.conversation_id"] == "req-42"
    assert run.record()["envelope"] == {
        "message_id": created.message_id,
        "correlation_id": "req-42",
        "causation_id": "req-42",
        "trace_id": created.trace_id,
        "tenant_id": "acme",
        "event_type": "order.created",
        "operation": "publish",
    }


def test_a_consumer_may_continue_the_producer_trace_instead(exporter):
    jt = _jt(exporter)
    with jt.span("publish"):
        envelope = new_envelope("order.created", cause="req-1")
    with jt.execution("order-fulfilment", trigger="event", envelope=envelope, continue_trace=True) as run:
        pass
    assert run.trace_id == envelope.trace_id
    assert _by_name(exporter)["order-fulfilment"].parent.span_id == int(envelope.span_id, 16)


def test_extract_context_is_case_insensitive_like_http_servers(exporter):
    jt = _jt(exporter)
    with jt.execution("x") as run:
        from jobtrace_sdk import inject_headers

        headers = {k.title(): v for k, v in inject_headers().items()}
    from opentelemetry import trace

    ctx = trace.get_current_span(extract_context(headers)).get_span_context()
    assert format(ctx.trace_id, "032x") == run.trace_id


# --- the HTTP task runner -------------------------------------------------------------------------------------


def test_the_http_task_runner_records_the_execution_from_the_response(console, downstream):
    jt = Jobtrace(url=console.url, token="t", namespace="shop", service_name="scheduler")
    runner = HttpTaskRunner(jt, timeout=5)
    ok = runner.run("inventory-sync", downstream.url + "/sync", json={"full": True})
    failed = runner.run("inventory-sync", downstream.url + "/fail")
    refused = runner.run("inventory-sync", f"http://127.0.0.1:{_closed_port()}/sync")
    jt.shutdown(timeout=10)
    assert (ok.status, ok.status_code) == ("succeeded", 200)
    assert (failed.status, failed.status_code) == ("failed", 500)
    assert "HTTP 500" in failed.error
    assert "disk full" in failed.error
    assert refused.status == "failed"
    assert refused.status_code is None
    assert "no response" in refused.error
    assert downstream.seen[0]["traceparent"].split("-")[1] == ok.trace_id
    assert "job.name=inventory-sync" in downstream.seen[0]["baggage"]
    records = console.latest("executions")
    assert records[ok.execution_id]["status"] == "succeeded"
    assert records[ok.execution_id]["params"]["url"].endswith("/sync")
    assert records[failed.execution_id]["status"] == "failed"
    assert "HTTP 500" in records[failed.execution_id]["error"]
    client_spans = [s for s in console.spans() if s["kind"] == 3]
    assert {s["trace_id"] for s in client_spans} == {ok.trace_id, failed.trace_id, refused.trace_id}


def test_configuration_comes_from_arguments_over_the_environment(monkeypatch):
    monkeypatch.setenv("JOBTRACE_URL", "http://console.example:8000/")
    monkeypatch.setenv("JOBTRACE_TOKEN", "jt_env")
    monkeypatch.setenv("JOBTRACE_NAMESPACE", "shop")
    config = Config.from_env(namespace="payments")
    assert (config.base_url, config.token, config.namespace) == ("http://console.example:8000", "jt_env", "payments")
    assert config.otlp_endpoint == "http://console.example:8000/v1/traces"
    collector = Config.from_env(traces_endpoint="http://collector:4318/v1/traces")
    assert collector.otlp_endpoint == "http://collector:4318/v1/traces"


_FORGETFUL_SCRIPT = """
import atexit, sys
from jobtrace_sdk import Jobtrace
from jobtrace_sdk.testing import CaptureConsole
console = CaptureConsole(default_rate=1.0).start() if sys.argv[1] == "up" else None
if console is not None:
    atexit.register(lambda: print("records", len(console.latest("executions")), "spans", len(console.spans())))
url = console.url if console else sys.argv[2]
jt = Jobtrace(url=url, token="t", namespace="shop", export_timeout=30.0, exit_timeout=1.0)
with jt.execution("exit-job", execution_id="x1"):
    pass
print("job done", flush=True)
"""


def _run_script(*args: str) -> tuple[str, float]:
    import subprocess
    import sys
    from pathlib import Path

    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", _FORGETFUL_SCRIPT, *args],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout, time.monotonic() - started


def test_a_process_that_forgets_shutdown_still_sends_its_record_and_spans_at_exit():
    out, _ = _run_script("up")
    assert "job done" in out
    assert "records 1 spans 1" in out


def test_a_process_whose_console_is_down_exits_promptly_even_with_a_long_export_timeout():
    out, seconds = _run_script("down", f"http://127.0.0.1:{_closed_port()}")
    assert "job done" in out
    assert seconds < 10  # interpreter start + the exit hook's 1 s bound, not the exporter's 30 s deadline
