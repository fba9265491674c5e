"""Message envelopes: the pure parser, and the replay-safe, fill-blank writer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobs.causality.ingest import MessageBatchError, MessageEnvelope, parse_messages
from jobs.causality.store import record_envelopes, record_messages
from jobs.models import Message
from tests import factories
from tests import factories_causality as fc

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_full_envelope_parses_into_plain_values():
    [env] = parse_messages(
        [
            {
                "message_id": "m-1",
                "correlation_id": "wf",
                "causation_id": "req-1",
                "trace_id": TRACE.upper(),
                "span_id": "00f067aa0ba902b7",
                "tenant_id": "acme",
                "event_type": "order.created",
                "operation": "send",
                "published_at": "2024-05-01T12:00:00Z",
                "consumed_at": "2024-05-01T14:40:00+02:00",
                "producer_service": "shop-api",
                "consumer_service": "billing",
            }
        ],
        max_batch=10,
    )
    assert env.trace_id == TRACE
    # `operation` is kept as sent; a messaging type sent there (as clients did before `messaging_operation`)
    # also fills the messaging operation, in OpenTelemetry's name.
    assert (env.operation, env.messaging_operation) == ("send", "send")
    assert env.published_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert env.consumed_at == datetime(2024, 5, 1, 12, 40, tzinfo=UTC)


def test_a_traceparent_gives_the_producer_context():
    [env] = parse_messages({"message_id": "m", "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}, max_batch=1)
    assert (env.trace_id, env.span_id) == (TRACE, "00f067aa0ba902b7")


def test_every_bad_field_is_named_with_its_item_index():
    with pytest.raises(MessageBatchError) as caught:
        parse_messages(
            [
                {"message_id": "ok"},
                {"correlation_id": "no id"},
                {"message_id": "m", "trace_id": "xyz", "span_id": "0" * 16, "messaging_operation": "teleport"},
                {"message_id": "m2", "published_at": "2024-05-01T12:00:00", "consumed_at": "yesterday"},
                "not an object",
            ],
            max_batch=10,
        )
    found = {(e.index, e.field) for e in caught.value.errors}
    assert found == {
        (1, "message_id"),
        (2, "trace_id"),
        (2, "span_id"),
        (2, "messaging_operation"),
        (3, "published_at"),
        (3, "consumed_at"),
        (4, "(item)"),
    }


def test_operation_is_the_business_operation_and_free_text():
    [checkout, legacy, both] = parse_messages(
        [
            {"message_id": "m-1", "operation": "checkout"},
            {"message_id": "m-2", "operation": "publish"},
            {"message_id": "m-3", "operation": "checkout", "messaging_operation": "PUBLISH"},
        ],
        max_batch=10,
    )
    assert (checkout.operation, checkout.messaging_operation) == ("checkout", "")
    assert (legacy.operation, legacy.messaging_operation) == ("publish", "send")
    assert (both.operation, both.messaging_operation) == ("checkout", "send")


def test_a_bad_messaging_operation_names_what_is_accepted():
    with pytest.raises(MessageBatchError) as caught:
        parse_messages({"message_id": "m", "messaging_operation": "teleport"}, max_batch=1)
    [error] = caught.value.errors
    assert error.field == "messaging_operation"
    for accepted in ("create", "send", "receive", "process", "settle", "publish"):
        assert accepted in error.message
    with pytest.raises(MessageBatchError, match="longer than 100"):
        parse_messages({"message_id": "m", "operation": "x" * 101}, max_batch=1)


def test_a_batch_over_the_limit_or_empty_is_refused():
    with pytest.raises(MessageBatchError, match="at most 2"):
        parse_messages([{"message_id": str(i)} for i in range(3)], max_batch=2)
    with pytest.raises(MessageBatchError, match="empty"):
        parse_messages([], max_batch=2)


@pytest.mark.django_db
def test_a_replayed_message_is_stored_once(ns):
    env = MessageEnvelope(message_id="m-1", correlation_id="wf", causation_id="req-1")
    record_messages(ns.pk, [env])
    record_messages(ns.pk, [env, env])
    assert Message.objects.filter(namespace=ns, message_id="m-1").count() == 1


@pytest.mark.django_db
def test_a_later_report_fills_blanks_and_never_erases(ns):
    published = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    consumed = datetime(2024, 5, 1, 12, 40, tzinfo=UTC)
    # The consumer reports first (out of order), the producer later.
    record_messages(ns.pk, [MessageEnvelope("m-1", consumed_at=consumed, consumer_service="billing")])
    record_messages(
        ns.pk,
        [
            MessageEnvelope(
                "m-1",
                correlation_id="wf",
                causation_id="req-1",
                trace_id=TRACE,
                published_at=published,
                producer_service="shop-api",
                consumer_service="",
            )
        ],
    )
    # A third, poorer report erases nothing.
    record_messages(ns.pk, [MessageEnvelope("m-1", correlation_id="", consumer_service="other")])
    m = Message.objects.get(namespace=ns, message_id="m-1")
    assert (m.correlation_id, m.causation_id, m.trace_id) == ("wf", "req-1", TRACE)
    assert (m.published_at, m.consumed_at) == (published, consumed)
    assert (m.producer_service, m.consumer_service) == ("shop-api", "billing")


@pytest.mark.django_db
def test_the_same_message_id_in_two_namespaces_is_two_messages(ns, other_ns):
    record_messages(ns.pk, [MessageEnvelope("m-1", correlation_id="a")])
    record_messages(other_ns.pk, [MessageEnvelope("m-1", correlation_id="b")])
    assert sorted(Message.objects.values_list("correlation_id", flat=True)) == ["a", "b"]


@pytest.mark.django_db
def test_envelopes_seen_on_executions_and_spans_can_become_message_rows(ns):
    run = factories.execution(factories.job(ns), message_id="m-9", correlation_id="wf", causation_id="req")
    producer = fc.span(ns, kind=fc.PRODUCER, message_id="m-9", service="shop-api")
    record_envelopes(executions=[run], spans=[producer])
    record_envelopes(executions=[run], spans=[producer])
    m = Message.objects.get(namespace=ns, message_id="m-9")
    assert (m.correlation_id, m.causation_id, m.producer_service) == ("wf", "req", "shop-api")
    assert m.trace_id == producer.trace_id
    assert m.messaging_operation == "process"  # the execution consumed it (the first report fills the blank)
    assert m.source == "execution"
    record_messages(ns.pk, [MessageEnvelope("m-9")], source="api")
    assert Message.objects.get(namespace=ns, message_id="m-9").source == "api"


@pytest.mark.django_db
def test_parsed_spans_become_message_rows_in_the_namespace_given(ns):
    from traces.ingest.spans import ParsedSpan

    parsed = ParsedSpan(
        trace_id=TRACE,
        span_id="00f067aa0ba902b7",
        parent_span_id="",
        name="order.created publish",
        service="shop-api",
        kind=4,
        start_ns=1_714_564_800_000_000_000,
        message_id="pm-1",
        correlation_id="wf",
    )
    record_envelopes(spans=[parsed], namespace_id=ns.pk)
    m = Message.objects.get(namespace=ns, message_id="pm-1")
    assert (m.producer_service, m.trace_id, m.source) == ("shop-api", TRACE, "span")
    assert (m.operation, m.messaging_operation) == ("", "send")  # a PRODUCER span sends
    assert m.published_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_the_migration_copies_stored_messaging_types_into_messaging_operation(ns):
    """Rows stored before `messaging_operation` existed keep their `operation` and gain the messaging type."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    nodes = executor.loader.graph.nodes
    [ours] = [key for key in nodes if key[0] == "jobs" and key[1].endswith("_message_messaging_operation")]
    [before] = executor.loader.graph.node_map[ours].parents
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate([before.key])
    try:
        old = executor.loader.project_state([before.key]).apps.get_model("jobs", "Message")
        for message_id, operation in [("m-1", "publish"), ("m-2", "process"), ("m-3", "request"), ("m-4", "")]:
            old.objects.create(namespace_id=ns.pk, message_id=message_id, operation=operation)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(leaves)
    stored = dict(
        (m, (o, mo)) for m, o, mo in Message.objects.values_list("message_id", "operation", "messaging_operation")
    )
    assert stored == {
        "m-1": ("publish", "send"),
        "m-2": ("process", "process"),
        "m-3": ("request", "send"),
        "m-4": ("", ""),
    }
