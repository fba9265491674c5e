"""Walking causal chains both ways from a job execution, within one namespace, bounded and cycle-safe."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.causality.chains import MAX_DEPTH, caused, caused_by
from jobs.choices import Trigger
from tests import factories
from tests import factories_causality as fc

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(ns):
    """request -> order.created (40 min in the queue) -> invoice job -> invoice.requested -> mailer -> invoice.sent"""
    t0 = timezone.now() - timedelta(hours=2)
    req_trace, job_trace, mail_trace = factories.trace_id(), factories.trace_id(), factories.trace_id()
    fc.trace_summary(ns, req_trace, started=t0)
    m1 = fc.message(
        ns,
        "order-1-created",
        correlation_id="wf-1",
        causation_id="req-1",
        trace_id=req_trace,
        event_type="order.created",
        published_at=t0 + timedelta(seconds=1),
        producer_service="shop-api",
    )
    invoice = factories.job(ns, "invoice")
    e1 = factories.execution(
        invoice,
        "run-1",
        trigger=Trigger.EVENT,
        message_id=m1.message_id,
        correlation_id="wf-1",
        causation_id="req-1",
        envelope_trace_id=req_trace,
        trace_id=job_trace,
        sampled=True,
        started_at=t0 + timedelta(minutes=41),
        finished_at=t0 + timedelta(minutes=42),
    )
    m2 = fc.message(
        ns,
        "invoice-1-requested",
        correlation_id="wf-1",
        causation_id=m1.message_id,
        trace_id=job_trace,
        event_type="invoice.requested",
        published_at=t0 + timedelta(minutes=41, seconds=30),
    )
    e2 = factories.execution(
        factories.job(ns, "mailer"),
        "mail-1",
        trigger=Trigger.EVENT,
        message_id=m2.message_id,
        correlation_id="wf-1",
        causation_id=m1.message_id,
        trace_id=mail_trace,
        started_at=t0 + timedelta(minutes=45),
    )
    m3 = fc.message(
        ns, "invoice-1-sent", correlation_id="wf-1", causation_id=e2.execution_id, event_type="invoice.sent"
    )
    return {"t0": t0, "m1": m1, "m2": m2, "m3": m3, "e1": e1, "e2": e2, "req_trace": req_trace}


def test_caused_by_walks_from_the_job_back_to_the_ingress_request(chain):
    up = caused_by(chain["e1"])
    assert [h.kind for h in up.hops] == ["message", "request"]
    message, request = up.hops
    assert message.key == "order-1-created"
    assert message.service == "shop-api"
    assert message.wait == timedelta(minutes=41) - timedelta(seconds=1)
    assert message.long_wait
    assert request.key == "req-1"
    assert request.trace_id == chain["req_trace"]
    assert request.trace_url == f"/traces/{chain['req_trace']}/"
    assert request.service == "shop-api"
    assert "POST /orders" in request.label
    assert not up.cycle
    assert not up.truncated


def test_caused_walks_forward_to_follow_on_messages_and_runs(chain):
    down = caused(chain["e1"])
    assert [(h.kind, h.key, h.depth) for h in down.hops] == [
        ("message", "invoice-1-requested", 1),
        ("execution", "mail-1", 2),
        ("message", "invoice-1-sent", 3),
    ]
    assert down.hops[1].url == "/jobs/payments/mailer/runs/mail-1/"


def test_the_follow_on_run_walks_back_through_the_whole_chain(chain):
    up = caused_by(chain["e2"])
    assert [(h.kind, h.key) for h in up.hops] == [
        ("message", "invoice-1-requested"),
        ("message", "order-1-created"),
        ("request", "req-1"),
    ]


def test_a_shard_walks_up_through_its_execution(chain):
    shard = factories.shard(chain["e1"], "0")
    up = caused_by(shard)
    assert [h.kind for h in up.hops] == ["execution", "message", "request"]


def test_another_namespaces_records_with_the_same_ids_never_join_the_chain(chain, other_ns):
    # The other team reuses the same correlation id, causes, and even message ids.
    fc.message(other_ns, "req-1", correlation_id="wf-1", causation_id="evil-root")
    fc.message(other_ns, "intruder", correlation_id="wf-1", causation_id="order-1-created")
    factories.execution(factories.job(other_ns, "invoice"), "x-1", message_id="order-1-created", causation_id="req-1")
    fc.span(other_ns, message_id="leak", causation_id="order-1-created", kind=fc.PRODUCER)
    up = caused_by(chain["e1"])
    assert [(h.kind, h.key) for h in up.hops] == [("message", "order-1-created"), ("request", "req-1")]
    keys = {h.key for h in caused(chain["e1"]).hops}
    assert keys == {"invoice-1-requested", "mail-1", "invoice-1-sent"}


def test_a_causation_cycle_terminates_and_is_reported(ns):
    fc.message(ns, "a", causation_id="b", correlation_id="loop")
    fc.message(ns, "b", causation_id="a", correlation_id="loop")
    run = factories.execution(factories.job(ns), message_id="a", correlation_id="loop", causation_id="b")
    up = caused_by(run)
    assert up.cycle
    assert [h.kind for h in up.hops] == ["message", "message", "cycle"]
    down = caused(run)
    assert down.cycle
    assert [h.kind for h in down.hops] == ["message", "cycle"]


def test_a_self_caused_message_is_a_cycle(ns):
    fc.message(ns, "self", causation_id="self")
    run = factories.execution(factories.job(ns), message_id="self")
    assert caused_by(run).cycle
    assert caused(run).cycle


def test_a_long_chain_is_cut_at_the_depth_bound(ns):
    for i in range(MAX_DEPTH + 5):
        fc.message(ns, f"m{i}", causation_id=f"m{i + 1}", correlation_id="deep")
    run = factories.execution(factories.job(ns), message_id="m0", correlation_id="deep", causation_id="m1")
    up = caused_by(run)
    assert up.truncated
    assert len(up.hops) == MAX_DEPTH


def test_an_unknown_cause_without_a_trace_is_a_broken_link(ns):
    fc.message(ns, "orphan", causation_id="nowhere", correlation_id="wf")
    run = factories.execution(factories.job(ns), message_id="orphan", correlation_id="wf", causation_id="nowhere")
    up = caused_by(run)
    assert up.hops[-1].kind == "missing"
    assert up.hops[-1].broken


def test_a_scheduled_run_has_no_cause_and_says_so(ns):
    up = caused_by(factories.execution(factories.job(ns)))
    assert up.hops == []
    assert "scheduled" in up.note.lower()


def test_the_trigger_can_come_from_the_consumer_span_alone(ns):
    """No envelope on the execution record, but its consumer span names the message."""
    trace = factories.trace_id()
    fc.message(ns, "from-span", correlation_id="wf", causation_id="req-9")
    run = factories.execution(factories.job(ns), trace_id=trace)
    fc.span(ns, trace, kind=fc.CONSUMER, message_id="from-span", service="worker")
    up = caused_by(run)
    assert [(h.kind, h.key) for h in up.hops][:1] == [("message", "from-span")]


def test_a_message_seen_only_on_spans_joins_the_chain_with_its_producer_trace(ns):
    producer_trace, job_trace = factories.trace_id(), factories.trace_id()
    fc.trace_summary(ns, producer_trace, service="checkout")
    fc.span(ns, producer_trace, kind=fc.PRODUCER, message_id="span-only", causation_id="req-7", service="checkout")
    run = factories.execution(factories.job(ns), message_id="span-only", trace_id=job_trace)
    up = caused_by(run)
    assert [(h.kind, h.key) for h in up.hops] == [("message", "span-only"), ("request", "req-7")]
    assert up.hops[0].service == "checkout"
    assert up.hops[1].trace_id == producer_trace


def test_walking_costs_three_queries_per_hop_level_whatever_the_fan_out(chain, ns, django_assert_num_queries):
    e1 = chain["e1"]
    e1 = type(e1).objects.select_related("job__namespace").get(pk=e1.pk)
    with django_assert_num_queries(7):  # two levels up (3 each) + the trace summaries
        caused_by(e1)
    with django_assert_num_queries(9):  # three levels down, 3 each
        caused(e1)
    for i in range(15):
        fc.message(ns, f"fan-{i}", causation_id="order-1-created", correlation_id="wf-1")
        factories.execution(factories.job(ns), f"fan-run-{i}", message_id=f"fan-{i}", causation_id="order-1-created")
    with django_assert_num_queries(9):
        down = caused(e1)
    assert len(down.hops) == 3 + 30


def test_a_message_caused_by_an_execution_id_walks_through_that_run(ns):
    fc.message(ns, "m1", causation_id="req-1", correlation_id="wf", trace_id=factories.trace_id())
    first = factories.execution(
        factories.job(ns, "a"), "e1", message_id="m1", correlation_id="wf", causation_id="req-1"
    )
    fc.message(ns, "m2", causation_id=first.execution_id, correlation_id="wf")
    second = factories.execution(factories.job(ns, "b"), "e2", message_id="m2", correlation_id="wf", causation_id="e1")
    up = caused_by(second)
    assert [(h.kind, h.key) for h in up.hops] == [
        ("message", "m2"),
        ("execution", "e1"),
        ("message", "m1"),
        ("request", "req-1"),
    ]
    assert [(h.kind, h.key) for h in caused(first).hops] == [("message", "m2"), ("execution", "e2")]


def test_a_message_published_inside_a_runs_trace_without_a_causation_id_is_that_runs_effect(ns):
    run_trace = factories.trace_id()
    now = timezone.now()
    first = factories.execution(factories.job(ns, "a"), "e1", trace_id=run_trace, started_at=now - timedelta(minutes=9))
    fc.message(ns, "early", trace_id=run_trace, published_at=now - timedelta(minutes=10))  # before the run began
    fc.message(ns, "m2", trace_id=run_trace, published_at=now - timedelta(minutes=8))
    second = factories.execution(factories.job(ns, "b"), "e2", message_id="m2")
    assert [(h.kind, h.key) for h in caused(first).hops] == [("message", "m2"), ("execution", "e2")]
    up = caused_by(second)
    assert [(h.kind, h.key) for h in up.hops] == [("message", "m2"), ("execution", "e1")]
