"""Log records belong to executions and shards by the linking contract (their span's owner, the trace id, the
trace's owner, job.* attributes), stored, and recomputed whichever side arrives later; never across namespaces."""

from __future__ import annotations

import pytest

from jobs.ingest import parse_executions, parse_shards
from jobs.models import Execution, Shard
from jobs.store import upsert_executions, upsert_shards
from tests import factories
from traces import partitions
from traces.logs.ingest import parse_logs
from traces.logs.models import LogRecord
from traces.logs.store import store_logs
from traces.logs.tests.builders import line, request
from traces.store import store_spans
from traces.tests.builders import otlp_span, parsed, sid, tid

pytestmark = pytest.mark.django_db
T0 = 1_764_000_000_000_000_000


def send(ns, *records, resource=None):
    store_logs(ns, parse_logs(request(list(records), resource=resource), json_body=False).records)


def owner(ns, text):
    row = LogRecord.objects.get(namespace=ns, body_text=text)
    return row.execution_id, row.shard_id, row.job_id


def run(ns, job="nightly", execution_id="run-1", **fields):
    upsert_executions(ns, parse_executions([{"job": job, "execution_id": execution_id, **fields}], max_batch=10))
    return Execution.objects.get(namespace=ns, execution_id=execution_id)


def shard(ns, shard_id, execution_id="run-1", job="nightly", **fields):
    item = {"job": job, "execution_id": execution_id, "shard_id": shard_id, **fields}
    upsert_shards(ns, parse_shards([item], max_batch=10))
    return Shard.objects.get(namespace=ns, shard_id=shard_id)


def test_a_log_after_its_execution_links_by_trace_id_at_once(ns):
    t = tid()
    execution = run(ns, trace_id=t, status="running")
    send(ns, line("started", T0, trace_id=t, span_id=sid()))
    assert owner(ns, "started") == (execution.pk, None, execution.job_id)


def test_an_execution_arriving_after_its_logs_links_them(ns):
    t = tid()
    send(ns, line("early", T0, trace_id=t), line("no trace", T0 + 1))
    assert owner(ns, "early") == (None, None, None)
    execution = run(ns, trace_id=t, status="running")
    assert owner(ns, "early") == (execution.pk, None, execution.job_id)
    assert owner(ns, "no trace") == (None, None, None)


def test_a_shard_owns_the_logs_of_its_span_subtree_whichever_arrives_last(ns):
    t, root, a, a1 = tid(), sid(), sid(), sid()
    execution = run(ns, trace_id=t, status="running")
    # logs first, then the shard record, then the spans that put a1 under the shard's span
    send(ns, line("in shard", T0, trace_id=t, span_id=a1), line("at root", T0 + 1, trace_id=t, span_id=root))
    assert owner(ns, "in shard") == (execution.pk, None, execution.job_id)
    s = shard(ns, "shard-17", trace_id=t, span_id=a, status="running")
    assert owner(ns, "in shard") == (execution.pk, None, execution.job_id)  # a1's place in the tree is not known
    store_spans(ns, parsed(("svc", [otlp_span(t, root), otlp_span(t, a, root), otlp_span(t, a1, a)])))
    assert owner(ns, "in shard") == (execution.pk, s.pk, execution.job_id)
    assert owner(ns, "at root") == (execution.pk, None, execution.job_id)
    # a late log of the subtree links at once through its span
    send(ns, line("late", T0 + 2, trace_id=t, span_id=a1))
    assert owner(ns, "late") == (execution.pk, s.pk, execution.job_id)


def test_a_log_linked_through_its_span_follows_it_when_the_shards_subtree_root_arrives_later(ns):
    t, root, a, a1 = tid(), sid(), sid(), sid()
    execution = run(ns, trace_id=t, status="running")
    s = shard(ns, "shard-18", trace_id=t, span_id=a, status="running")
    # a1 arrives before its parent a (the shard's subtree root): a1 is the execution's, and so is its log
    store_spans(ns, parsed(("svc", [otlp_span(t, root), otlp_span(t, a1, a)])))
    send(ns, line("in subtree", T0, trace_id=t, span_id=a1))
    assert owner(ns, "in subtree") == (execution.pk, None, execution.job_id)
    # a arrives: span linking moves a1 under the shard, and the log linked through a1 follows it
    store_spans(ns, parsed(("svc", [otlp_span(t, a, root)])))
    assert owner(ns, "in subtree") == (execution.pk, s.pk, execution.job_id)


def test_job_attributes_link_logs_without_a_trace_in_either_order(ns):
    send(
        ns,
        line("by attrs", T0, attributes={"job.execution.id": "run-9", "job.shard.id": "s-1"}),
        resource={"job.name": "nightly"},
    )
    assert owner(ns, "by attrs") == (None, None, None)
    s = shard(ns, "s-1", execution_id="run-9")
    assert owner(ns, "by attrs") == (s.execution_id, s.pk, s.execution.job_id)
    send(ns, line("after", T0 + 1), resource={"job.name": "nightly", "job.execution.id": "run-9"})
    assert owner(ns, "after") == (s.execution_id, None, s.execution.job_id)
    # another job's name never matches
    send(ns, line("other job", T0 + 2, attributes={"job.execution.id": "run-9", "job.name": "weekly"}))
    assert owner(ns, "other job") == (None, None, None)


def test_a_trace_linked_through_its_spans_attributes_takes_its_logs(ns):
    t, root = tid(), sid()
    send(ns, line("follows the trace", T0, trace_id=t))
    execution = run(ns, execution_id="run-5")
    store_spans(ns, parsed(("svc", [otlp_span(t, root, attrs={"job.execution.id": "run-5"})])))
    assert owner(ns, "follows the trace") == (execution.pk, None, execution.job_id)


def test_linking_never_crosses_namespaces(ns, other_ns):
    t = tid()
    theirs = run(other_ns, trace_id=t, execution_id="run-1")
    factories.job(ns, "nightly")
    send(ns, line("mine", T0, trace_id=t, attributes={"job.execution.id": "run-1"}))
    assert owner(ns, "mine") == (None, None, None)
    send(ns, line("named theirs", T0 + 1, attributes={"job.namespace": other_ns.name, "job.execution.id": "run-1"}))
    mine = run(ns, execution_id="run-1")
    assert owner(ns, "mine") == (mine.pk, None, mine.job_id)
    assert owner(ns, "named theirs") == (None, None, None)
    assert not LogRecord.objects.filter(execution=theirs).exists()


def test_a_batch_naming_no_trace_and_no_job_links_without_a_query(ns, django_assert_max_num_queries):
    records = parse_logs(request([line(f"plain {i}", T0 + i) for i in range(100)]), json_body=False).records
    # The day's partition first (PostgreSQL): the first write of a day creates it once, outside what is counted.
    partitions.ensure_for_values(partitions.LOGS, [T0])
    with django_assert_max_num_queries(6) as captured:  # nothing per record
        store_logs(ns, records)
    read = " ".join(q["sql"] for q in captured.captured_queries)
    assert not [table for table in ("jobs_execution", "traces_span", "traces_trace") if table in read]
    assert LogRecord.objects.filter(namespace=ns).count() == 100
