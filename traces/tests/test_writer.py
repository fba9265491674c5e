"""The span writer: what it stores beyond the spans themselves, text PostgreSQL cannot hold, and its query budget."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.lookup import resolve
from jobs.models import Message
from traces import linking
from traces.models import Span, Trace
from traces.tests.builders import otlp_span, parsed, sid, tid
from traces.writer import store_spans

pytestmark = pytest.mark.django_db


def test_a_message_id_seen_only_on_a_span_is_found_by_the_id_lookup(ns, other_ns):
    t, s = tid(), sid()
    span = otlp_span(t, s, attrs={"messaging.message.id": "msg-only-on-a-span", "messaging.system": "kafka"})
    span["kind"] = 4  # producer
    store_spans(ns, parsed(("shop-api", [span])))
    store_spans(ns, parsed(("shop-api", [span])))  # an exporter's retry: still one message
    message = Message.objects.get(namespace=ns, message_id="msg-only-on-a-span")
    assert (message.trace_id, message.span_id, message.producer_service) == (t, s, "shop-api")
    matches = [m for m in resolve("msg-only-on-a-span", [ns.pk]) if m.kind == "message"]
    assert len(matches) == 1
    assert resolve("msg-only-on-a-span", [other_ns.pk]) == []  # an outsider's namespaces find nothing


def test_spans_without_message_ids_make_no_message_rows(ns):
    store_spans(ns, parsed(("svc", [otlp_span(tid(), sid(), attrs={"http.route": "/x"})])))
    assert not Message.objects.exists()


def test_nul_characters_are_stored_as_replacement_characters(ns):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL text cannot hold NUL (the COPY path replaces it); SQLite stores it as received")
    t, s = tid(), sid()
    span = otlp_span(t, s, name="bad\x00name", attrs={"k\x00": "v\x00", "job.execution.id": "run\x00x"})
    span["status"] = {"code": 2, "message": "boom\x00"}
    span["traceState"] = "a=b\x00"
    store_spans(ns, parsed(("svc\x00", [span])))
    row = Span.objects.get(namespace=ns, trace_id=t, span_id=s)
    assert (row.name, row.service, row.status_message, row.trace_state) == (
        "bad\ufffdname",
        "svc\ufffd",
        "boom\ufffd",
        "a=b\ufffd",
    )
    assert row.job_execution_id == "run\ufffdx"
    assert row.attributes["k\ufffd"] == "v\ufffd"


def test_a_retry_mixing_stored_and_new_spans_stores_each_span_once(ns):
    t, root, a, b = tid(), sid(), sid(), sid()
    assert store_spans(ns, parsed(("svc", [otlp_span(t, root), otlp_span(t, a, root)]))).inserted == 2
    result = store_spans(ns, parsed(("svc", [otlp_span(t, a, root), otlp_span(t, b, root), otlp_span(t, b, root)])))
    assert (result.inserted, result.duplicates) == (1, 2)
    assert Span.objects.filter(namespace=ns, trace_id=t).count() == 3
    assert Trace.objects.get(namespace=ns, trace_id=t).span_count == 3


def test_linking_a_batch_nobody_can_own_costs_one_query(ns):
    t = tid()
    spans = parsed(("svc", [otlp_span(t, sid(), attrs={"http.route": "/x"})]))
    store_spans(ns, spans)
    with CaptureQueriesContext(connection) as queries:
        linking.link_traces(ns.pk, [t], new_spans=spans)
    assert len(queries) == 1
