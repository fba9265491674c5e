"""`manage.py relink`: spans stored before JOBTRACE_ATTRIBUTE_ALIASES named their scheduler's attributes are read
again and linked, in bounded batches, only in the namespace asked for, and a second run changes nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from tests import factories
from traces.ingest import parse_document
from traces.models import Span, Trace
from traces.store import store_spans
from traces.tests.builders import T0, otlp_doc, otlp_span, sid, tid

pytestmark = pytest.mark.django_db

ALIASES = ["xxl.job.name=job.name", "xxl.job.log_id=job.execution.id"]


def xxl_trace(ns, log_id: int, start_ms: int = 0) -> str:
    """A trace whose root names its run only in the scheduler's own attribute names (and a child that inherits)."""
    t, root = tid(), sid()
    spans = [
        otlp_span(t, root, attrs={"xxl.job.log_id": log_id}, start_ms=start_ms),
        otlp_span(t, sid(), root, start_ms=start_ms + 1),
    ]
    store_spans(ns, parse_document(otlp_doc(("xxl-executor", spans), resource={"xxl.job.name": "settle"})).spans)
    return t


def relink(*args: str) -> str:
    out = io.StringIO()
    call_command("relink", *args, stdout=out)
    return out.getvalue()


def test_spans_stored_before_the_aliases_are_linked_by_relink(ns, other_ns, settings):
    execution = factories.execution(factories.job(ns, "settle"), "9001")
    others = factories.execution(factories.job(other_ns, "settle"), "9001")
    settings.JOBTRACE_ATTRIBUTE_ALIASES = []
    mine, theirs = xxl_trace(ns, 9001), xxl_trace(other_ns, 9001)
    assert Trace.objects.get(namespace=ns, trace_id=mine).execution_id is None  # the aliases came later

    settings.JOBTRACE_ATTRIBUTE_ALIASES = ALIASES
    report = relink("--namespace", ns.name)
    trace = Trace.objects.get(namespace=ns, trace_id=mine)
    assert (trace.execution_id, trace.job_id) == (execution.pk, execution.job_id)
    assert set(Span.objects.filter(namespace=ns, trace_id=mine).values_list("execution_id", flat=True)) == {
        execution.pk
    }
    root = Span.objects.get(namespace=ns, trace_id=mine, parent_span_id="")
    assert (root.job_name, root.job_execution_id) == ("settle", "9001")
    assert "1 trace(s), 2 span(s)" in report
    assert "2 span(s) got new job attributes" in report  # the child carries the resource's job.name
    assert "0 before, 1 after" in report
    # Only the namespace asked for: the other team's run stays as it was until they relink theirs.
    assert Trace.objects.get(namespace=other_ns, trace_id=theirs).execution_id is None
    assert others.pk not in set(Span.objects.values_list("execution_id", flat=True))
    # Repeating changes nothing.
    assert "0 span(s) got new job attributes" in relink("--namespace", ns.name)


def test_relink_goes_in_bounded_batches_and_since_narrows_it(ns, settings):
    job = factories.job(ns, "settle")
    factories.execution(job, "1")
    factories.execution(job, "2")
    settings.JOBTRACE_ATTRIBUTE_ALIASES = []
    old = xxl_trace(ns, 1, start_ms=0)
    day = 86_400_000
    new = [xxl_trace(ns, 2, start_ms=3 * day + i) for i in range(3)]
    settings.JOBTRACE_ATTRIBUTE_ALIASES = ALIASES
    since = f"{(T0 // 1_000_000_000) + 86_400}"  # a Unix time one day after the old trace
    report = relink("--namespace", ns.name, "--since", since, "--batch-spans", "3")
    assert "3 trace(s), 6 span(s) read in 3 batch(es)" in report  # two spans a trace, at most 3 spans a batch
    assert Trace.objects.get(trace_id=old).execution_id is None
    assert all(Trace.objects.get(trace_id=t).execution_id for t in new)


def test_relink_refuses_an_unknown_namespace_and_a_bad_since(ns):
    with pytest.raises(CommandError, match="does not exist"):
        relink("--namespace", "nope")
    with pytest.raises(CommandError, match="--since"):
        relink("--namespace", ns.name, "--since", "last tuesday")
