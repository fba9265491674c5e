"""The SDK against a live console with the real OTLP exporter: records and spans arrive and link; sampling
decisions are recorded; envelopes reach the messages API.

The console is served in-process by jobs.demo.server (one request at a time, as the demo runs it), not by
live_server's threaded server: on the embedded SQLite concurrent writers would lock each other out."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from jobtrace_sdk import Jobtrace, inject_headers, new_envelope
from opentelemetry.trace import SpanKind

from jobs.demo.server import serve_console
from jobs.models import Execution, Job, Shard
from tests import factories
from traces.models import Span

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(ns) -> str:
    return factories.token(ns, ["ingest", "read"])


@pytest.fixture
def console_url(transactional_db) -> Iterator[str]:
    with serve_console() as url:
        yield url


@pytest.fixture
def jt(console_url, token) -> Iterator[Jobtrace]:
    client = Jobtrace(
        url=console_url, token=token, namespace="payments", service_name="migration-worker", policy_timeout=10.0
    )
    yield client
    client.shutdown(timeout=5)


def test_records_and_spans_arrive_and_link_in_both_shard_layouts(jt, api):
    accounts = jt.service("account-service")
    with jt.execution("account-migration", execution_id="mig-1", params={"batch": "eu"}) as run:
        with run.shard("acct-1000001", labels={"account": "1000001"}, index=0, layout="child"):
            pass
        with (
            run.shard("acct-1000002", labels={"account": "1000002"}, index=1, layout="trace", raise_errors=False),
            jt.span("PUT /accounts/1000002", kind=SpanKind.CLIENT),
        ):
            headers = inject_headers()
            with accounts.server_span("PUT /accounts/{id}", headers), accounts.span("validate"):
                raise ValueError("display_name is 72 characters; at most 64")
    assert jt.shutdown(timeout=20)

    body = api.get("/api/v1/jobs/payments/account-migration/executions/mig-1").json()
    assert body["status"] == "failed"
    assert body["trace_id"] == run.trace_id
    assert body["sampled"] is True
    assert body["params"] == {"batch": "eu"}
    assert "acct-1000002" in body["error"]
    shards = api.get(
        "/api/v1/jobs/payments/account-migration/executions/mig-1/shards", {"label": "account:1000002"}
    ).json()["results"]
    (failing,) = shards
    assert failing["status"] == "failed"
    assert "ValueError" in failing["error"]
    assert failing["trace_id"] != run.trace_id  # the trace-per-shard layout

    execution = Execution.objects.get(execution_id="mig-1")
    child_shard = Shard.objects.get(shard_id="acct-1000001")
    trace_shard = Shard.objects.get(shard_id="acct-1000002")
    root = Span.objects.get(trace_id=run.trace_id, parent_span_id="")
    assert root.execution_id == execution.pk
    assert Span.objects.get(span_id=child_shard.span_id).shard_id == child_shard.pk
    downstream = Span.objects.get(trace_id=trace_shard.trace_id, name="validate")
    assert downstream.service == "account-service"
    assert downstream.shard_id == trace_shard.pk
    assert downstream.status_code == 2
    (event,) = downstream.events
    assert event["attributes"]["exception.type"] == "ValueError"
    assert "Traceback" in event["attributes"]["exception.stacktrace"]
    trace = api.get(f"/api/v1/traces/{trace_shard.trace_id}").json()
    assert trace["shard"]["shard_id"] == "acct-1000002"
    shard_root = next(s for s in trace["spans"] if s["name"] == "shard acct-1000002")
    assert [(link["trace_id"], link["span_id"]) for link in shard_root["links"]] == [(run.trace_id, run.span_id)]


def test_sampling_decisions_are_recorded_and_only_sampled_runs_export_spans(jt, ns, api):
    factories.job(ns, "cache-warmup", sample_rate=0.0)
    factories.job(ns, "reindex", sample_rate=0.3)
    with jt.execution("cache-warmup", execution_id="never", trigger="scheduled"), jt.span("warm"):
        pass
    with jt.execution("cache-warmup", execution_id="by-hand", trigger="manual"), jt.span("warm"):
        pass
    n = 200
    decisions = {}
    for i in range(n):
        with jt.execution("reindex", execution_id=f"r{i}") as run:
            pass
        decisions[run.execution_id] = run.sampled
    assert jt.shutdown(timeout=30)

    recorded = dict(Execution.objects.filter(job__name="reindex").values_list("execution_id", "sampled"))
    assert recorded == decisions
    sampled = sum(decisions.values())
    assert abs(sampled - n * 0.3) <= 5 * math.sqrt(n * 0.3 * 0.7)
    assert Execution.objects.get(execution_id="never").sampled is False
    assert Execution.objects.get(execution_id="never").trace_id  # known, though nothing was exported
    assert Execution.objects.get(execution_id="by-hand").sampled is True
    exported = set(Span.objects.exclude(job_execution_id="").values_list("job_execution_id", flat=True))
    assert "never" not in exported
    assert "by-hand" in exported
    assert exported - {"by-hand"} == {k for k, v in decisions.items() if v}
    assert api.get("/api/v1/jobs/payments/reindex/sampling").json()["rate"] == 0.3


def test_a_job_named_with_a_slash_gets_its_own_sampling_policy(jt, ns):
    factories.job(ns, "etl/daily", sample_rate=0.0)  # a folder/job name, as Jenkins-style schedulers have
    with jt.execution("etl/daily", execution_id="nightly") as run:
        pass
    assert jt.shutdown(timeout=20)
    assert run.sampled is False  # the policy was found: not the default rate of a job the console does not know
    assert Execution.objects.get(job__name="etl/daily", execution_id="nightly").sampled is False


def test_an_envelope_carries_the_workflow_through_the_messages_api_and_the_execution(jt, api):
    storefront = jt.service("storefront")
    with storefront.span("POST /orders", kind=SpanKind.SERVER):
        created = new_envelope("order.created", cause="req-77", tenant_id="acme", producer_service="storefront")
    jt.publish(created)
    with jt.execution("order-fulfilment", trigger="event", envelope=created, execution_id="f-77") as run:
        fulfilled = new_envelope("order.fulfilled", cause=created, producer_service="fulfilment-worker")
    jt.publish(fulfilled)
    assert jt.shutdown(timeout=20)

    execution = api.get("/api/v1/jobs/payments/order-fulfilment/executions/f-77").json()
    assert execution["envelope"]["message_id"] == created.message_id
    assert execution["envelope"]["correlation_id"] == "req-77"
    assert execution["trigger"] == "event"
    messages = api.get("/api/v1/messages", {"correlation_id": "req-77"}).json()["results"]
    by_id = {m["message_id"]: m for m in messages}
    assert by_id[fulfilled.message_id]["causation_id"] == created.message_id
    assert by_id[created.message_id]["causation_id"] == "req-77"
    root = Span.objects.get(trace_id=run.trace_id, parent_span_id="")
    assert root.links[0]["trace_id"] == created.trace_id
    assert root.links[0]["span_id"] == created.span_id
    assert root.message_id == created.message_id


def test_the_job_is_created_by_its_first_record_and_keeps_the_default_policy(jt):
    with jt.execution("brand-new-job", trigger="scheduled") as run:
        pass
    assert jt.shutdown(timeout=20)
    assert run.sampled is True  # the default policy (rate 1.0) for a job the console had not seen
    assert Job.objects.get(name="brand-new-job").sample_rate == 1.0
