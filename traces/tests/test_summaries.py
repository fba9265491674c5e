"""Trace summaries stay right whatever the order, repetition or lateness of arrivals; clock skew is flagged."""

from __future__ import annotations

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traces import summaries
from traces.ingest import parse_document
from traces.models import Span, Trace, TraceService
from traces.store import store_spans
from traces.summaries import clock_skew
from traces.tests.builders import otlp_doc, otlp_span, parsed, sid, tid

pytestmark = pytest.mark.django_db


def test_out_of_order_duplicate_and_late_spans_leave_the_summary_exact(ns):
    t = tid()
    root, child, grandchild, late = sid(), sid(), sid(), sid()
    # the grandchild and child arrive before the root; the child arrives twice; one span an hour late
    store_spans(ns, parsed(("db", [otlp_span(t, grandchild, child, "query", 20, 5, error=True)])))
    first = Trace.objects.get(namespace=ns, trace_id=t)
    assert first.root_span_id == grandchild  # the earliest span stands in until the root arrives
    store_spans(ns, parsed(("api", [otlp_span(t, child, root, "handler", 10, 50)])))
    store_spans(ns, parsed(("api", [otlp_span(t, child, root, "handler", 10, 50)])))
    store_spans(ns, parsed(("web", [otlp_span(t, root, "", "GET /checkout", 0, 100)])))
    result = store_spans(ns, parsed(("web", [otlp_span(t, root, "", "GET /checkout", 0, 100)])))
    assert (result.inserted, result.duplicates) == (0, 1)
    store_spans(ns, parsed(("mail", [otlp_span(t, late, root, "send", 3_600_000, 7)])))

    trace = Trace.objects.get(namespace=ns, trace_id=t)
    assert trace.span_count == 4 == Span.objects.filter(trace_id=t).count()
    assert trace.error_count == 1
    assert (trace.root_span_id, trace.root_service, trace.root_name) == (root, "web", "GET /checkout")
    assert trace.duration_ns == (3_600_000 + 7) * 1_000_000
    assert trace.services == ["api", "db", "mail", "web"]
    rows = {r.service: (r.span_count, r.error_count, r.start_ns) for r in TraceService.objects.filter(trace=trace)}
    assert rows == {
        "api": (1, 0, trace.start_ns),
        "db": (1, 1, trace.start_ns),
        "mail": (1, 0, trace.start_ns),
        "web": (1, 0, trace.start_ns),
    }


def test_duplicates_within_one_batch_keep_the_first_copy(ns):
    t, s = tid(), sid()
    result = store_spans(ns, parsed(("a", [otlp_span(t, s, name="first"), otlp_span(t, s, name="second")])))
    assert (result.received, result.inserted, result.duplicates) == (2, 1, 1)
    assert Span.objects.get(trace_id=t).name == "first"
    assert Trace.objects.get(trace_id=t).span_count == 1


def test_one_batch_touching_many_traces_summarises_each(ns, django_assert_max_num_queries):
    spans = []
    traces = [tid() for _ in range(20)]
    for t in traces:
        root = sid()
        spans.append(otlp_span(t, root, "", "root"))
        spans.extend(otlp_span(t, sid(), root, f"c{i}", i, 1, error=i == 0) for i in range(9))
    # PostgreSQL: COPY, insert, aggregates, upserts, linking checks; SQLite's bulk_create needs a few more batches
    with django_assert_max_num_queries(14 if connection.vendor == "postgresql" else 24):
        store_spans(ns, parsed(("svc", spans)))
    assert Trace.objects.filter(namespace=ns).count() == 20
    assert set(Trace.objects.values_list("span_count", "error_count", "root_name")) == {(10, 1, "root")}


def test_the_same_trace_id_in_two_namespaces_stays_apart(ns, other_ns):
    t, s = tid(), sid()
    store_spans(ns, parsed(("a", [otlp_span(t, s)])))
    store_spans(other_ns, parsed(("b", [otlp_span(t, s), otlp_span(t, sid(), s)])))
    assert Trace.objects.get(namespace=ns, trace_id=t).span_count == 1
    assert Trace.objects.get(namespace=other_ns, trace_id=t).span_count == 2


def test_a_child_starting_before_its_parent_on_another_service_is_flagged_not_changed(ns, fixtures_dir):
    from traces.ingest import parse_file

    spans = parse_file((fixtures_dir / "zipkin_v2/zipkin_v2_spans_skew_shared_span.json").read_bytes()).spans
    store_spans(ns, spans)
    stored = list(Span.objects.filter(namespace=ns))
    warnings = clock_skew(stored)
    assert warnings, "the Zipkin skew fixture has a child starting before its parent on another host"
    assert all(w.early_by_ns > 0 and "clock skew" in w.message for w in warnings)
    by_id = {s.span_id: s for s in stored}
    for w in warnings:
        assert by_id[w.span_id].start_ns < by_id[w.parent_span_id].start_ns  # kept as received


@pytest.mark.django_db(transaction=True)
def test_two_exporters_sending_one_trace_at_the_same_moment_leave_an_exact_summary():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises every write)")
    import threading

    from django.db import connections

    from tests import factories

    namespace = factories.namespace("concurrent")
    traces = [tid() for _ in range(40)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def exporter(service: str) -> None:
        try:
            barrier.wait()
            for t in traces:
                store_spans(namespace, parsed((service, [otlp_span(t, sid(), name=service) for _ in range(5)])))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=exporter, args=(s,)) for s in ("api", "worker")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    summaries = list(Trace.objects.filter(namespace=namespace).values_list("span_count", "services"))
    assert len(summaries) == 40
    assert all(row == (10, ["api", "worker"]) for row in summaries), summaries


# --- a new trace's summary, computed from the rows written, equals the one read back from the table ---------------

_span_shapes = st.lists(
    st.tuples(
        st.sampled_from(["web", "api", "db", "svc\x00nul", "x" * 300]),  # NUL and over-long names, as stored
        st.sampled_from(["GET /a", "query", "op\x00", "retry"]),
        st.integers(min_value=0, max_value=50),  # start, ms (ties between roots included)
        st.integers(min_value=0, max_value=30),  # duration, ms
        st.booleans(),  # error
        st.integers(min_value=-1, max_value=6),  # parent: an earlier span, or none (-1), or a span not sent (>= n)
    ),
    min_size=1,
    max_size=12,
)


def _summary_rows(ns, trace_id):
    trace = Trace.objects.filter(namespace=ns, trace_id=trace_id).values(
        "root_span_id", "root_service", "root_name", "start_ns", "duration_ns", "span_count", "error_count", "services"
    )
    services = TraceService.objects.filter(trace__namespace=ns, trace__trace_id=trace_id).values_list(
        "service", "start_ns", "span_count", "error_count"
    )
    return list(trace), sorted(services)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shapes=_span_shapes)
def test_a_new_traces_summary_from_its_rows_equals_the_recomputed_one(ns, shapes):
    """PostgreSQL sums a trace new to the database from the rows it writes (summaries.store_new) rather than
    reading them back. Recomputing from the table must change nothing."""
    if connection.vendor != "postgresql":
        pytest.skip("the shortcut is PostgreSQL's ingest path; SQLite always recomputes from the table")
    t = tid()
    ids = [sid() for _ in shapes]
    groups: dict[str, list] = {}
    for i, (service, name, start, duration, error, parent) in enumerate(shapes):
        parent_id = "" if parent < 0 else (ids[parent] if parent < len(ids) and parent != i else sid())
        groups.setdefault(service, []).append(otlp_span(t, ids[i], parent_id, name, start, duration, error=error))
    store_spans(ns, parsed(*groups.items()))
    shortcut = _summary_rows(ns, t)
    assert shortcut[0], "no summary stored"
    summaries.recompute(ns.pk, [t])
    assert _summary_rows(ns, t) == shortcut


def test_a_trace_with_stored_spans_is_recomputed_from_the_table_not_from_the_batch(ns):
    t, root, child = tid(), sid(), sid()
    store_spans(ns, parsed(("web", [otlp_span(t, root, "", "GET /", 0, 100)])))
    store_spans(ns, parsed(("api", [otlp_span(t, child, root, "handler", 10, 20, error=True)])))
    trace = Trace.objects.get(namespace=ns, trace_id=t)
    assert (trace.span_count, trace.error_count, trace.root_span_id, trace.services) == (2, 1, root, ["api", "web"])


def test_a_child_on_another_host_of_the_same_service_that_starts_first_is_clock_skew(ns):
    t, root, child, local = tid(), sid(), sid(), sid()

    def store(span, host):
        store_spans(ns, parse_document(otlp_doc(("api", [span]), resource={"host.name": host})).spans)

    store(otlp_span(t, root, "", "GET /", 500, 100), "h1")
    store(otlp_span(t, child, root, "work", 0, 50), "h2")  # another host: its clock runs 500 ms behind
    store(otlp_span(t, local, root, "same host", 400, 5), "h1")  # one clock: not skew, whatever it looks like
    warnings = clock_skew(Span.objects.filter(namespace=ns, trace_id=t))
    assert [(w.span_id, w.early_by_ns) for w in warnings] == [(child, 500_000_000)]
