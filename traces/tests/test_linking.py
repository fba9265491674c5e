"""Linking spans to executions and shards: by trace id, by job attributes (with aliases), through span links;
recomputed whichever side arrives first, never across namespaces."""

from __future__ import annotations

import pytest

from tests import factories
from traces.ingest import parse_document
from traces.linking import on_records_changed, propagation_gap
from traces.models import Span, Trace
from traces.store import store_spans
from traces.tests.builders import otlp_doc, otlp_span, parsed, sid, tid

pytestmark = pytest.mark.django_db


def owners(ns, trace_id):
    return dict(Span.objects.filter(namespace=ns, trace_id=trace_id).values_list("span_id", "execution_id"))


def test_spans_arriving_after_their_execution_link_by_trace_id(ns):
    t, root, child = tid(), sid(), sid()
    execution = factories.execution(factories.job(ns, "nightly-export"), "run-1", trace_id=t)
    store_spans(ns, parsed(("svc", [otlp_span(t, root), otlp_span(t, child, root)])))
    assert set(owners(ns, t).values()) == {execution.pk}
    trace = Trace.objects.get(namespace=ns, trace_id=t)
    assert (trace.execution_id, trace.job_id, trace.shard_id) == (execution.pk, execution.job_id, None)


def test_an_execution_arriving_after_its_spans_links_them(ns):
    t, root = tid(), sid()
    store_spans(ns, parsed(("svc", [otlp_span(t, root)])))
    assert Trace.objects.get(trace_id=t).execution_id is None
    execution = factories.execution(factories.job(ns), "run-2", trace_id=t, sampled=True)
    assert propagation_gap(execution) is False
    on_records_changed([execution], [])
    assert owners(ns, t) == {root: execution.pk}
    assert Trace.objects.get(trace_id=t).execution_id == execution.pk
    # a late span joins the linked trace
    late = sid()
    store_spans(ns, parsed(("svc", [otlp_span(t, late, root, start_ms=3_600_000)])))
    assert owners(ns, t)[late] == execution.pk


def test_a_sampled_execution_without_spans_shows_a_propagation_gap(ns):
    execution = factories.execution(factories.job(ns), "run-gap", trace_id=tid(), sampled=True)
    assert propagation_gap(execution) is True


def test_a_shard_with_a_span_id_owns_that_subtree(ns):
    t, root, a, a1, b = tid(), sid(), sid(), sid(), sid()
    execution = factories.execution(factories.job(ns, "account-migration"), "run-3", trace_id=t)
    shard = factories.shard(execution, "shard-17", trace_id=t, span_id=a)
    # children before parents, and the shard record only after the spans
    store_spans(ns, parsed(("svc", [otlp_span(t, a1, a), otlp_span(t, b, root)])))
    store_spans(ns, parsed(("svc", [otlp_span(t, root), otlp_span(t, a, root)])))
    on_records_changed([], [shard])
    rows = dict(Span.objects.filter(trace_id=t).values_list("span_id", "shard_id"))
    assert rows == {root: None, a: shard.pk, a1: shard.pk, b: None}
    assert set(owners(ns, t).values()) == {execution.pk}
    assert Trace.objects.get(trace_id=t).shard_id == shard.pk  # the only shard in the trace: found by ?shard=


def test_trace_per_shard_links_the_whole_trace_to_its_shard(ns):
    execution = factories.execution(factories.job(ns), "run-4", trace_id=tid())
    t = tid()
    shard = factories.shard(execution, "0", trace_id=t)
    store_spans(ns, parsed(("worker", [otlp_span(t, sid())])))
    trace = Trace.objects.get(trace_id=t)
    assert (trace.execution_id, trace.shard_id, trace.job_id) == (execution.pk, shard.pk, execution.job_id)


def test_job_attributes_link_spans_and_their_descendants(ns):
    job = factories.job(ns, "nightly-export")
    execution = factories.execution(job, "run-5")
    shard = factories.shard(execution, "s-9")
    t, root, child, other = tid(), sid(), sid(), sid()
    spans = parsed(
        (
            "worker",
            [
                otlp_span(t, root, attrs={"job.name": "nightly-export", "job.execution.id": "run-5"}),
                otlp_span(t, child, root, attrs={"job.shard.id": "s-9"}),
            ],
        )
    )
    store_spans(ns, spans)
    store_spans(ns, parsed(("worker", [otlp_span(t, other, child)])))  # a descendant, later
    rows = {
        s: (e, sh) for s, e, sh in Span.objects.filter(trace_id=t).values_list("span_id", "execution_id", "shard_id")
    }
    assert rows == {root: (execution.pk, None), child: (execution.pk, shard.pk), other: (execution.pk, shard.pk)}
    assert Trace.objects.get(trace_id=t).execution_id == execution.pk


def test_configured_aliases_are_read_as_job_attributes(ns, settings):
    settings.JOBTRACE_ATTRIBUTE_ALIASES = ["xxl.job.name=job.name", "xxl.job.log_id=job.execution.id"]
    execution = factories.execution(factories.job(ns, "settle"), "9001")
    t = tid()
    doc = otlp_doc(("xxl", [otlp_span(t, sid(), attrs={"xxl.job.log_id": 9001})]), resource={"xxl.job.name": "settle"})
    store_spans(ns, parse_document(doc).spans)
    assert Trace.objects.get(trace_id=t).execution_id == execution.pk


def test_job_attributes_arriving_before_the_execution_link_once_it_arrives(ns):
    t = tid()
    store_spans(ns, parsed(("w", [otlp_span(t, sid(), attrs={"job.execution.id": "run-late"})])))
    execution = factories.execution(factories.job(ns), "run-late")
    on_records_changed([execution], [])
    assert Trace.objects.get(trace_id=t).execution_id == execution.pk


def test_span_links_carry_ownership_into_another_trace_in_either_order(ns):
    execution = factories.execution(factories.job(ns), "run-6")
    t_shard, shard_root = tid(), sid()
    shard = factories.shard(execution, "3", trace_id=t_shard)
    t_consumer, consumer = tid(), sid()
    # the consumer's trace (linking to the shard's span) arrives first; the linked trace later
    store_spans(ns, parsed(("consumer", [otlp_span(t_consumer, consumer, links=[(t_shard, shard_root)])])))
    assert Trace.objects.get(trace_id=t_consumer).shard_id is None
    store_spans(ns, parsed(("producer", [otlp_span(t_shard, shard_root)])))
    trace = Trace.objects.get(trace_id=t_consumer)
    assert (trace.execution_id, trace.shard_id) == (execution.pk, shard.pk)


def test_linking_never_crosses_namespaces(ns, other_ns):
    t = tid()
    factories.execution(factories.job(other_ns, "theirs"), "run-x", trace_id=t)
    factories.execution(factories.job(other_ns, "theirs2"), "run-y")
    store_spans(ns, parsed(("svc", [otlp_span(t, sid(), attrs={"job.execution.id": "run-y"})])))
    assert Trace.objects.get(namespace=ns, trace_id=t).execution_id is None
    mine = factories.execution(factories.job(ns, "mine"), "run-z")
    t2 = tid()
    store_spans(
        ns,
        parsed(("svc", [otlp_span(t2, sid(), attrs={"job.namespace": "search-team", "job.execution.id": "run-z"})])),
    )
    assert Trace.objects.get(namespace=ns, trace_id=t2).execution_id is None  # names another namespace
    assert mine.pk


def test_records_whose_traces_have_no_spans_cost_two_queries_and_link_nothing(ns, django_assert_num_queries):
    execution = factories.execution(factories.job(ns), "run-quiet", trace_id=tid())
    shards = [factories.shard(execution, f"q-{i}", trace_id=tid(), span_id=sid()) for i in range(50)]
    stored_elsewhere = tid()
    store_spans(ns, parsed(("svc", [otlp_span(stored_elsewhere, sid())])))
    # one lock statement (PostgreSQL) or one span query (SQLite), then one query narrowing the candidates: no more
    with django_assert_num_queries(2):
        on_records_changed([execution], shards)
    assert Trace.objects.get(trace_id=stored_elsewhere).execution_id is None


def test_only_the_records_whose_traces_have_spans_get_linked(ns):
    execution = factories.execution(factories.job(ns), "run-mixed", trace_id=tid())
    with_spans, root = tid(), sid()
    store_spans(ns, parsed(("svc", [otlp_span(with_spans, root)])))
    shards = [factories.shard(execution, f"m-{i}", trace_id=tid()) for i in range(20)]
    shards.append(factories.shard(execution, "m-spans", trace_id=with_spans))
    on_records_changed([execution], shards)
    trace = Trace.objects.get(trace_id=with_spans)
    assert (trace.execution_id, trace.shard_id) == (execution.pk, shards[-1].pk)
    assert Trace.objects.filter(namespace=ns).count() == 1


def test_an_execution_whose_trace_id_changed_releases_its_old_trace(ns):
    old, new = tid(), tid()
    store_spans(ns, parsed(("svc", [otlp_span(old, sid())])))
    execution = factories.execution(factories.job(ns), "run-moved", trace_id=old)
    on_records_changed([execution], [])
    assert Trace.objects.get(trace_id=old).execution_id == execution.pk
    execution.trace_id = new
    execution.save(update_fields=["trace_id"])
    on_records_changed([execution], [])
    assert Trace.objects.get(trace_id=old).execution_id is None


def test_records_in_another_namespace_never_link_spans_with_their_trace_id(ns, other_ns):
    t = tid()
    store_spans(ns, parsed(("svc", [otlp_span(t, sid())])))
    theirs = factories.execution(factories.job(other_ns), "run-theirs", trace_id=t)
    on_records_changed([theirs], [])
    assert Trace.objects.get(namespace=ns, trace_id=t).execution_id is None
