"""End to end with the real OpenTelemetry SDK: request -> publish -> (40 min queue) -> consume -> job -> follow-on.

Spans go through the real OTLP/HTTP exporter to the live console's /v1/traces; envelopes and executions through
the REST API, using the project SDK's propagation helpers (jobtrace_sdk.propagation). The chain is then walked both ways
from the job execution, and the correlation page shows it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.test import Client
from jobtrace_sdk.propagation import Envelope, new_envelope, producer_link
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from jobs.causality.chains import caused, caused_by
from jobs.causality.gaps import find_gaps, propagation_health
from jobs.models import Execution, Message
from tests import factories
from traces.models import Span, SpanLink

pytestmark = [pytest.mark.slow]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Users are made per test; the production hasher's cost is not what these tests measure."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


SpanKind = trace.SpanKind


def ns_of(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000_000)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Console:
    """The live server, seen by exporters and scripts holding one ingest+read token."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.headers = base, {"Authorization": f"Bearer {token}"}
        self.providers: list[TracerProvider] = []

    def tracer(self, service: str) -> trace.Tracer:
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        exporter = OTLPSpanExporter(endpoint=f"{self.base}/v1/traces", headers=self.headers, timeout=10)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        self.providers.append(provider)
        return provider.get_tracer("causality-test")

    def post(self, path: str, body: object) -> requests.Response:
        response = requests.post(f"{self.base}{path}", json=body, headers=self.headers, timeout=10)
        assert response.status_code in (200, 201), (path, response.status_code, response.text)
        return response

    def shutdown(self) -> None:
        for provider in self.providers:
            provider.shutdown()


@pytest.fixture
def console(transactional_db, live_server, ns):
    c = Console(live_server.url, factories.token(ns, ["ingest", "read"]))
    yield c
    c.shutdown()


def run_workflow(console: Console) -> dict[str, object]:
    t0 = datetime.now(UTC) - timedelta(hours=1)
    shop, billing = console.tracer("shop-api"), console.tracer("billing-worker")

    # 1. The ingress request publishes order.created.
    request_span = shop.start_span("POST /orders", kind=SpanKind.SERVER, start_time=ns_of(t0))
    with trace.use_span(request_span, end_on_exit=False):
        publish = shop.start_span("order.created publish", kind=SpanKind.PRODUCER, start_time=ns_of(t0))
        with trace.use_span(publish, end_on_exit=False):
            order = new_envelope(
                "order.created", cause="req-1", producer_service="shop-api", published_at=iso(t0), tenant_id="acme"
            )
            publish.set_attributes(order.span_attributes())
        publish.end(end_time=ns_of(t0 + timedelta(milliseconds=5)))
    request_span.end(end_time=ns_of(t0 + timedelta(milliseconds=20)))

    # 2. Forty minutes later a worker consumes it in a new trace, linked to the producer, and runs the job.
    picked = t0 + timedelta(minutes=40)
    consumed = order.consumed(iso(picked), "billing-worker")
    # Out of order: the consumer's report reaches the console before the producer's.
    console.post("/api/v1/messages", [consumed.message_record()])
    console.post("/api/v1/messages", [order.message_record()])
    console.post("/api/v1/messages", [order.message_record()])  # a replay

    consume = billing.start_span(
        "order.created process",
        kind=SpanKind.CONSUMER,
        links=[producer_link(order)],
        attributes=order.span_attributes(),
        start_time=ns_of(picked),
    )
    with trace.use_span(consume, end_on_exit=False):
        job_span = billing.start_span(
            "invoice",
            attributes={"job.namespace": "payments", "job.name": "invoice", "job.execution.id": "run-1"},
            start_time=ns_of(picked),
        )
        with trace.use_span(job_span, end_on_exit=False):
            follow = billing.start_span("invoice.requested publish", kind=SpanKind.PRODUCER, start_time=ns_of(picked))
            with trace.use_span(follow, end_on_exit=False):
                invoice = new_envelope(
                    "invoice.requested",
                    cause=order,
                    producer_service="billing-worker",
                    published_at=iso(picked + timedelta(seconds=1)),
                )
                follow.set_attributes(invoice.span_attributes())
            follow.end(end_time=ns_of(picked + timedelta(seconds=1)))
        job_span.end(end_time=ns_of(picked + timedelta(seconds=30)))
    consume.end(end_time=ns_of(picked + timedelta(seconds=31)))
    job_trace = format(consume.get_span_context().trace_id, "032x")
    console.post("/api/v1/messages", [invoice.message_record()])

    # 3. The execution records, the job's and the follow-on mailer run's, with their trigger envelopes.
    console.post(
        "/api/v1/executions",
        [
            {
                "job": "invoice",
                "execution_id": "run-1",
                "trigger": "event",
                "status": "succeeded",
                "started_at": iso(picked),
                "finished_at": iso(picked + timedelta(seconds=30)),
                "trace_id": job_trace,
                "sampled": True,
                "envelope": consumed.record_fields(),
            },
            {
                "job": "mailer",
                "execution_id": "mail-1",
                "trigger": "event",
                "status": "succeeded",
                "started_at": iso(picked + timedelta(minutes=1)),
                "finished_at": iso(picked + timedelta(minutes=2)),
                "sampled": False,
                "envelope": invoice.consumed(iso(picked + timedelta(minutes=1)), "mailer").record_fields(),
            },
        ],
    )
    return {
        "order": order,
        "invoice": invoice,
        "request_trace": format(request_span.get_span_context().trace_id, "032x"),
        "job_trace": job_trace,
        "publish_span": format(publish.get_span_context().span_id, "016x"),
        "consume_span": format(consume.get_span_context().span_id, "016x"),
    }


def wait_for_spans(count: int) -> None:
    deadline = time.monotonic() + 10
    while Span.objects.count() < count and time.monotonic() < deadline:
        time.sleep(0.1)


def test_the_chain_is_walked_both_ways_from_the_job(console, ns, owner):
    flow = run_workflow(console)
    wait_for_spans(5)
    order: Envelope = flow["order"]  # type: ignore[assignment]
    invoice: Envelope = flow["invoice"]  # type: ignore[assignment]

    # The spans arrived with their messaging columns and the consumer's link to its producer.
    assert Span.objects.filter(namespace=ns, message_id=order.message_id).count() == 2
    assert SpanLink.objects.filter(namespace=ns, linked_trace_id=flow["request_trace"]).exists()
    # Replayed and out-of-order reports made one complete row.
    row = Message.objects.get(namespace=ns, message_id=order.message_id)
    assert Message.objects.filter(namespace=ns).count() == 2
    assert (row.producer_service, row.consumer_service) == ("shop-api", "billing-worker")
    assert row.published_at
    assert row.consumed_at
    assert row.causation_id == "req-1"

    run = Execution.objects.select_related("job__namespace").get(namespace=ns, execution_id="run-1")
    up = caused_by(run)
    assert [(h.kind, h.key) for h in up.hops] == [("message", order.message_id), ("request", "req-1")]
    assert up.hops[0].long_wait
    assert up.hops[0].wait == timedelta(minutes=40)
    assert up.hops[1].trace_id == flow["request_trace"]
    assert "shop-api POST /orders" in up.hops[1].label

    down = caused(run)
    assert [(h.kind, h.key) for h in down.hops] == [("message", invoice.message_id), ("execution", "mail-1")]

    # Context propagated all the way: no gap on the job, full health.
    assert find_gaps([run]).of(run) == []
    assert propagation_health(run.job).percent == 100

    client = Client()
    client.force_login(owner)
    html = client.get(f"/correlations/{order.correlation_id}/").content.decode()
    for needle in ("request req-1", order.message_id, "invoice #run-1", invoice.message_id, "mailer #mail-1"):
        assert needle in html
    assert "⚠ 40 min" in html

    # On the trace pages the link is navigable both ways: out from the consumer, in on the producer's trace.
    consumer_page = client.get(f"/traces/{flow['job_trace']}/?span={flow['consume_span']}").content.decode()
    assert f"/traces/{flow['request_trace']}/?span={flow['publish_span']}" in consumer_page
    producer_page = client.get(f"/traces/{flow['request_trace']}/").content.decode()
    assert f"/traces/{flow['job_trace']}/?span={flow['consume_span']}" in producer_page


def test_a_consumer_that_drops_the_link_is_a_visible_gap(console, ns):
    t0 = datetime.now(UTC) - timedelta(hours=1)
    shop, worker = console.tracer("shop-api"), console.tracer("worker")
    with shop.start_as_current_span("publish", kind=SpanKind.PRODUCER, start_time=ns_of(t0)):
        order = new_envelope("order.created", cause="req-2", published_at=iso(t0))
    console.post("/api/v1/messages", [order.message_record()])
    # The consumer starts a fresh trace and forgets both the link and the parent.
    with worker.start_as_current_span(
        "process", kind=SpanKind.CONSUMER, attributes=order.span_attributes(), start_time=ns_of(t0)
    ) as consume:
        job_trace = format(consume.get_span_context().trace_id, "032x")
    console.post(
        "/api/v1/executions",
        [
            {
                "job": "invoice",
                "execution_id": "run-2",
                "trigger": "event",
                "status": "succeeded",
                "started_at": iso(t0 + timedelta(minutes=1)),
                "finished_at": iso(t0 + timedelta(minutes=2)),
                "trace_id": job_trace,
                "sampled": True,
                "envelope": order.record_fields(),
            }
        ],
    )
    wait_for_spans(2)
    run = Execution.objects.select_related("job__namespace").get(namespace=ns, execution_id="run-2")
    assert [g.kind for g in find_gaps([run]).of(run)] == ["consumer_unlinked"]
    body = requests.get(
        f"{console.base}/api/v1/jobs/payments/invoice/propagation", headers=console.headers, timeout=10
    ).json()
    assert body["health"] == 0.0
    assert body["gaps"]["consumer_unlinked"] == 1
