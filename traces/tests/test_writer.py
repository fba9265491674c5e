"""The span writer: what it stores beyond the spans themselves, text PostgreSQL cannot hold, and its query budget."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from console.lookup import resolve
from jobs.models import Message
from tests import factories
from traces import linking, store, summaries
from traces.models import Span, SpanLink, Trace
from traces.store import store_spans
from traces.tests.builders import T0, otlp_doc, otlp_span, parsed, sid, tid

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


# --- JSON columns: orjson on the hot path, the careful encoder behind it -------------------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec="utf-8"))
    | st.sampled_from(["\x00", "a null here", "\\u0000", '"', "\ud800"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_json_values)
def test_the_fast_encoder_writes_what_the_careful_one_writes(value):
    """orjson spells NaN as null and refuses big integers: whatever it gets wrong must reach the careful path."""
    assert json.loads(store._dumps(value)) == json.loads(store._dumps_careful(value))


def test_attributes_come_back_as_sent_in_the_order_sent(ns):
    t, s = tid(), sid()
    attrs = {
        "zeta": "last-first",
        "alpha": None,
        "int64.max": 2**63 - 1,
        "nested": {"b": [1, "two", {"x": None}], "a": True},
        "text.with.null": "nullable",
        "ratio": 0.25,
    }
    store_spans(ns, parsed(("svc", [otlp_span(t, s, attrs=attrs)])))
    row = Span.objects.get(namespace=ns, trace_id=t, span_id=s)
    assert row.attributes == attrs
    assert list(row.attributes) == list(attrs)  # `json` keeps the exporter's order (jsonb would sort the keys)
    assert row.resource["service.name"] == "svc"


def test_deleting_a_namespace_deletes_its_spans_without_a_database_foreign_key(ns, other_ns):
    """Span.namespace has no database constraint (a per-row check on every COPY); Django's CASCADE still holds."""
    t = tid()
    store_spans(ns, parsed(("svc", [otlp_span(t, sid())])))
    store_spans(other_ns, parsed(("svc", [otlp_span(t, sid())])))
    ns.delete()
    assert list(Span.objects.values_list("namespace_id", flat=True)) == [other_ns.pk]
    assert list(Trace.objects.values_list("namespace_id", flat=True)) == [other_ns.pk]


def test_the_write_path_probes_spans_by_trace_id_even_when_statistics_say_the_namespace_is_empty(ns):
    """Statistics gathered while a namespace was young say it has no spans; the planner then liked to read every
    span of the namespace per batch (an anti-join over `namespace_id = ?`) instead of probing each trace id:
    300 µs of PostgreSQL CPU per span in the benchmark. Both id-probing queries must stay index probes by trace."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's planner")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE traces_span")  # statistics of an empty namespace
        ids = ",".join(tid() for _ in range(16))
        cursor.execute("EXPLAIN " + summaries._PG_NEW_TRACES, {"ns": ns.pk, "ids": ids})
        new_traces_plan = "\n".join(row[0] for row in cursor.fetchall())
        params = {
            "ns": ns.pk,
            "trace_ids": ids.split(","),
            "exec_ids": [],
            "shard_ids": [],
            "exec_pks": [],
            "shard_pks": [],
        }
        cursor.execute("EXPLAIN " + linking._PG_RELINK, params)
        relink_plan = "\n".join(row[0] for row in cursor.fetchall())
    for plan in (new_traces_plan, relink_plan):
        assert "(trace_id)::text = t.t" in plan or "trace_id = t.t" in plan, plan
        assert "Materialize" not in plan, plan


def test_a_span_whose_message_envelope_holds_nul_or_an_overlong_service_is_stored_not_a_500(ns, client):
    """Both were database errors that lost the whole batch: Message columns take no NUL and 200 characters."""
    token = factories.token(ns, ["ingest"])
    t, producer, consumer = tid(), sid(), sid()
    sent = otlp_span(t, producer, attrs={"messaging.message.id": "m\x00x", "messaging.message.conversation_id": "c"})
    sent["kind"] = 4
    received = otlp_span(t, consumer, producer, attrs={"messaging.message.id": "m\x00x"})
    received["kind"] = 5
    body = json.dumps(otlp_doc(("s" * 250, [sent]), ("billing\x00", [received]))).encode()
    response = client.post("/v1/traces", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    assert Span.objects.filter(namespace=ns, trace_id=t).count() == 2
    message = Message.objects.get(namespace=ns)
    assert (message.message_id, message.correlation_id) == ("m\ufffdx", "c")
    assert (message.producer_service, message.consumer_service) == ("s" * 200, "billing\ufffd")
    assert (message.trace_id, message.span_id) == (t, producer)
    at = datetime.fromtimestamp(T0 / 1e9, tz=UTC)  # both spans start at T0: the JSON record kept the time
    assert (message.published_at, message.consumed_at) == (at, at)


def test_a_span_stored_before_times_were_checked_does_not_break_later_writes_to_its_trace(ns):
    """Jaeger and Zipkin imports once stored spans whose end overflows a bigint; recomputing their trace's summary
    then failed, and so did every later batch touching the trace (500 on the receiver, for every retry)."""
    t = tid()
    big = 9_000_000_000_000_000_000
    Span.objects.create(namespace=ns, trace_id=t, span_id=sid(), name="old import", service="svc", start_ns=big,
                        duration_ns=big)  # fmt: skip
    store_spans(ns, parsed(("svc", [otlp_span(t, sid())])))
    trace = Trace.objects.get(namespace=ns, trace_id=t)
    assert trace.span_count == 2
    assert trace.duration_ns == 2**63 - 1  # capped, not an error


def test_a_resent_span_that_differs_adds_no_links_or_messages_its_stored_copy_lacks(ns):
    """The first copy of a span wins; the links and message ids of a later, different copy must not be stored."""
    t, s = tid(), sid()
    store_spans(ns, parsed(("svc", [otlp_span(t, s)])))
    changed = otlp_span(t, s, attrs={"messaging.message.id": "only-on-the-resend"}, links=[(tid(), sid())])
    changed["kind"] = 4
    result = store_spans(ns, parsed(("svc", [changed, otlp_span(t, sid(), s)])))
    assert (result.inserted, result.duplicates) == (1, 1)
    assert Span.objects.get(namespace=ns, trace_id=t, span_id=s).links == []
    assert not SpanLink.objects.filter(namespace=ns).exists()
    assert not Message.objects.filter(namespace=ns).exists()
