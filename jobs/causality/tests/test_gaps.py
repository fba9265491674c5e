"""Each propagation-gap kind is found where it occurs, and the job's propagation-health figure counts them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.causality.gaps import (
    CONSUMER_UNLINKED,
    ENVELOPE_INCOMPLETE,
    SHARD_TRACE_UNLINKED,
    SPANS_LOST,
    find_gaps,
    propagation_health,
)
from jobs.choices import RunStatus, Trigger
from tests import factories
from tests import factories_causality as fc
from traces.models import SpanLink

pytestmark = pytest.mark.django_db


def kinds(execution) -> list[str]:
    return sorted(g.kind for g in find_gaps([execution]).of(execution))


def finished_run(ns, **fields):
    now = timezone.now()
    fields.setdefault("started_at", now - timedelta(minutes=30))
    fields.setdefault("finished_at", now - timedelta(minutes=29))
    return factories.execution(factories.job(ns), **fields)


def test_a_trigger_message_without_correlation_or_causation_id_is_a_gap(ns):
    run = finished_run(ns, trigger=Trigger.EVENT, message_id="m1")
    [gap] = find_gaps([run]).of(run)
    assert gap.kind == ENVELOPE_INCOMPLETE
    assert "no correlation id and no causation id" in gap.detail


def test_the_message_row_may_complete_what_the_execution_envelope_lacks(ns):
    fc.message(ns, "m1", correlation_id="wf", causation_id="req")
    assert kinds(finished_run(ns, trigger=Trigger.EVENT, message_id="m1")) == []


def test_an_event_triggered_run_with_no_envelope_at_all_is_a_gap(ns):
    assert kinds(finished_run(ns, trigger=Trigger.EVENT)) == [ENVELOPE_INCOMPLETE]
    assert kinds(finished_run(ns, trigger=Trigger.SCHEDULED)) == []


def test_a_consumer_span_that_starts_a_new_trace_without_a_link_is_a_gap(ns):
    producer_trace, consumer_trace = factories.trace_id(), factories.trace_id()
    fc.message(ns, "m1", correlation_id="wf", causation_id="req", trace_id=producer_trace)
    run = finished_run(ns, message_id="m1", correlation_id="wf", causation_id="req", trace_id=consumer_trace)
    consumer = fc.span(ns, consumer_trace, kind=fc.CONSUMER, message_id="m1")
    [gap] = find_gaps([run]).of(run)
    assert gap.kind == CONSUMER_UNLINKED
    assert (gap.trace_id, gap.span_id) == (consumer_trace, consumer.span_id)
    consumer.links = [{"trace_id": producer_trace, "span_id": factories.span_id()}]
    consumer.save()
    assert kinds(run) == []


def test_a_consumer_that_continues_the_producers_trace_needs_no_link(ns):
    trace = factories.trace_id()
    fc.message(ns, "m1", correlation_id="wf", causation_id="req", trace_id=trace)
    run = finished_run(ns, message_id="m1", correlation_id="wf", causation_id="req", trace_id=trace)
    fc.span(ns, trace, kind=fc.CONSUMER, message_id="m1", parent_span_id=factories.span_id())
    fc.trace_summary(ns, trace)
    assert kinds(run) == []


def test_a_sampled_run_whose_spans_never_arrived_is_spans_lost_not_not_sampled(ns):
    lost = finished_run(ns, trace_id=factories.trace_id(), sampled=True)
    unsampled = finished_run(ns, trace_id=factories.trace_id(), sampled=False)
    findings = find_gaps([lost, unsampled])
    assert [g.kind for g in findings.of(lost)] == [SPANS_LOST]
    assert findings.of(unsampled) == []
    assert any("not sampled" in n for n in findings.notes[unsampled.pk])


def test_spans_that_arrived_or_are_still_expected_are_not_lost(ns):
    arrived = finished_run(ns, trace_id=factories.trace_id(), sampled=True)
    fc.span(ns, arrived.trace_id)  # a span without a summary still counts
    summarised = finished_run(ns, trace_id=factories.trace_id(), sampled=True)
    fc.trace_summary(ns, summarised.trace_id)
    running = factories.execution(
        factories.job(ns), trace_id=factories.trace_id(), sampled=True, status=RunStatus.RUNNING
    )
    findings = find_gaps([arrived, summarised, running])
    assert findings.gaps == {}
    assert any("pending" in n for n in findings.notes[running.pk])


def test_a_spans_arrival_in_another_namespace_does_not_count(ns, other_ns):
    run = finished_run(ns, trace_id=factories.trace_id(), sampled=True)
    fc.span(other_ns, run.trace_id)
    assert kinds(run) == [SPANS_LOST]


def test_a_shard_trace_with_nothing_tying_it_to_its_execution_is_a_gap(ns):
    run = finished_run(ns, trace_id=factories.trace_id(), sampled=True)
    fc.trace_summary(ns, run.trace_id)
    shard = factories.shard(run, "0", trace_id=factories.trace_id())
    shard_span = fc.span(ns, shard.trace_id)
    findings = find_gaps([run])
    [gap] = findings.of(run, shard)
    assert (gap.kind, gap.shard_pk) == (SHARD_TRACE_UNLINKED, shard.pk)
    # A span link from the shard's trace to the execution's trace ties them.
    SpanLink.objects.create(
        namespace=ns,
        trace_id=shard.trace_id,
        span_id=shard_span.span_id,
        linked_trace_id=run.trace_id,
        linked_span_id=factories.span_id(),
    )
    assert kinds(run) == []


def test_a_shard_trace_naming_its_execution_is_linked(ns):
    run = finished_run(ns, trace_id=factories.trace_id(), sampled=True)
    fc.trace_summary(ns, run.trace_id)
    shard = factories.shard(run, "0", trace_id=factories.trace_id())
    fc.span(ns, shard.trace_id, job_execution_id=run.execution_id)
    assert kinds(run) == []


def test_a_sampled_shard_trace_that_never_arrived_is_spans_lost_on_the_shard(ns):
    run = finished_run(ns, trace_id=factories.trace_id(), sampled=True)
    fc.trace_summary(ns, run.trace_id)
    shard = factories.shard(run, "0", trace_id=factories.trace_id())
    [gap] = find_gaps([run]).of(run, shard)
    assert (gap.kind, gap.shard_pk) == (SPANS_LOST, shard.pk)


def test_finding_gaps_costs_a_fixed_number_of_queries(ns, django_assert_max_num_queries):
    runs = []
    for i in range(12):
        run = finished_run(ns, trace_id=factories.trace_id(), sampled=True, message_id=f"m{i}")
        factories.shard(run, "0", trace_id=factories.trace_id())
        fc.span(ns, run.trace_id, kind=fc.CONSUMER, message_id=f"m{i}")
        runs.append(run)
    with django_assert_max_num_queries(7):
        findings = find_gaps(runs)
    assert len(findings.gaps) == 12


def test_propagation_health_is_the_share_of_runs_with_complete_context(ns):
    job = factories.job(ns, "invoice")
    now = timezone.now()
    common = {"started_at": now - timedelta(hours=1), "finished_at": now - timedelta(minutes=50)}
    factories.execution(job, "ok-1", message_id="a", correlation_id="wf", causation_id="r", **common)
    factories.execution(job, "ok-2", **common)
    factories.execution(job, "bad-1", message_id="b", **common)
    factories.execution(job, "bad-2", trace_id=factories.trace_id(), sampled=True, **common)
    factories.execution(job, "fine-unsampled", trace_id=factories.trace_id(), sampled=False, **common)
    health = propagation_health(job)
    assert (health.total, health.complete, health.percent) == (5, 3, 60)
    assert health.by_kind == {ENVELOPE_INCOMPLETE: 1, SPANS_LOST: 1}


def test_a_job_without_runs_has_no_health_figure(ns):
    health = propagation_health(factories.job(ns))
    assert health.total == 0
    assert health.share is None
