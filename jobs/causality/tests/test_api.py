"""POST/GET /api/v1/messages, propagation health and execution causality over the API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import override_settings

from jobs.models import Message
from tests import factories
from tests import factories_causality as fc

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Users are made per test; the production hasher's cost is not what these tests measure."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_batch_of_envelopes_is_stored(api, ns):
    response = api.post(
        "/api/v1/messages",
        [
            {"message_id": "m-1", "correlation_id": "wf", "causation_id": "req", "trace_id": TRACE},
            {
                "message_id": "m-2",
                "correlation_id": "wf",
                "causation_id": "m-1",
                "published_at": "2024-05-01T12:00:00Z",
            },
        ],
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 2, "namespaces": ["payments"]}
    assert set(Message.objects.filter(namespace=ns).values_list("message_id", flat=True)) == {"m-1", "m-2"}


def test_the_seed_envelope_with_a_business_operation_is_accepted(api, ns):
    """DESIGN.md's envelope: `operation` is the business operation, as the execution API already stores it."""
    seed = {
        "message_id": "msg_9218",
        "correlation_id": "req_71bd",
        "causation_id": "msg_9134",
        "trace_id": TRACE,
        "tenant_id": "tenant_42",
        "event_type": "order.created",
        "operation": "checkout",
    }
    response = api.post("/api/v1/messages", seed, format="json")
    assert response.status_code == 200, response.content
    [listed] = api.get("/api/v1/messages", {"message_id": "msg_9218"}).json()["results"]
    assert {k: listed[k] for k in seed} == seed
    assert listed["messaging_operation"] == ""
    # The same envelope is an execution's trigger envelope too.
    run = {"job": "order-fulfilment", "execution_id": "e-1", "envelope": seed}
    assert api.post("/api/v1/executions", run, format="json").status_code == 200


def test_messaging_operation_is_its_own_field(api, ns):
    body = {"message_id": "m-1", "operation": "checkout", "messaging_operation": "publish"}
    assert api.post("/api/v1/messages", body, format="json").status_code == 200
    m = Message.objects.get(namespace=ns, message_id="m-1")
    assert (m.operation, m.messaging_operation) == ("checkout", "send")
    bad = api.post("/api/v1/messages", {"message_id": "m-2", "messaging_operation": "teleport"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "messaging_operation"
    assert not Message.objects.filter(message_id="m-2").exists()


def test_a_replayed_message_does_not_duplicate(api, ns):
    body = [{"message_id": "m-1", "correlation_id": "wf"}]
    for _ in range(3):
        assert api.post("/api/v1/messages", body, format="json").status_code == 200
    assert Message.objects.filter(namespace=ns).count() == 1


def test_the_consumer_may_report_before_the_producer(api, ns):
    api.post("/api/v1/messages", [{"message_id": "m", "consumed_at": "2024-05-01T12:40:00Z"}], format="json")
    api.post(
        "/api/v1/messages",
        [{"message_id": "m", "published_at": "2024-05-01T12:00:00Z", "correlation_id": "wf"}],
        format="json",
    )
    m = Message.objects.get(namespace=ns, message_id="m")
    assert m.published_at is not None
    assert m.consumed_at is not None
    assert m.correlation_id == "wf"


def test_one_bad_item_refuses_the_batch_and_names_index_and_field(api, ns):
    response = api.post(
        "/api/v1/messages",
        [{"message_id": "fine"}, {"message_id": "bad", "trace_id": "nothex"}],
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"index": 1, "field": "trace_id", "message": "must be 32 hex characters and not all zero, got 'nothex'"}
    ]
    assert "item 1, trace_id" in response.json()["detail"]
    assert not Message.objects.exists()


@override_settings(JOBTRACE_MAX_BATCH=2)
def test_a_batch_larger_than_the_limit_is_refused(api):
    response = api.post("/api/v1/messages", [{"message_id": str(i)} for i in range(3)], format="json")
    assert response.status_code == 400
    assert "at most 2" in response.json()["detail"]


def test_ingest_needs_the_ingest_scope_and_the_tokens_namespace(reader, ingester, anonymous_api, other_ns):
    assert reader.post("/api/v1/messages", [{"message_id": "m"}], format="json").status_code == 403
    assert anonymous_api.post("/api/v1/messages", [{"message_id": "m"}], format="json").status_code in (401, 403)
    response = ingester.post("/api/v1/messages", [{"message_id": "m", "namespace": other_ns.name}], format="json")
    assert response.status_code == 403
    assert not Message.objects.exists()


def test_listing_filters_by_correlation_causation_and_trace(reader, ns):
    fc.message(ns, "a", correlation_id="wf", trace_id=TRACE)
    fc.message(ns, "b", correlation_id="wf", causation_id="a")
    fc.message(ns, "c", correlation_id="other")
    ids = lambda r: sorted(m["message_id"] for m in r.json()["results"])  # noqa: E731
    assert ids(reader.get("/api/v1/messages?correlation_id=wf")) == ["a", "b"]
    assert ids(reader.get("/api/v1/messages?causation_id=a")) == ["b"]
    assert ids(reader.get(f"/api/v1/messages?trace_id={TRACE.upper()}")) == ["a"]
    first = reader.get("/api/v1/messages?correlation_id=wf").json()["results"][0]
    assert first["correlation_url"] == "/correlations/wf/"
    assert first["namespace"] == "payments"


def test_listing_is_paginated_with_a_cursor(reader, ns):
    for i in range(5):
        fc.message(ns, f"m{i}", correlation_id="wf")
    page = reader.get("/api/v1/messages?correlation_id=wf&limit=2").json()
    assert len(page["results"]) == 2
    assert page["next"]
    rest = reader.get(page["next"]).json()
    assert len(rest["results"]) == 2


def test_an_outsider_never_sees_another_namespaces_messages(outsider_api, ns):
    fc.message(ns, "secret", correlation_id="wf")
    assert outsider_api.get("/api/v1/messages?correlation_id=wf").json()["results"] == []
    assert outsider_api.get("/api/v1/correlations/wf").status_code == 404


def test_listing_costs_a_fixed_number_of_queries(reader, ns, django_assert_max_num_queries):
    for i in range(20):
        fc.message(ns, f"m{i}", correlation_id="wf")
    with django_assert_max_num_queries(4):  # token, last-used update, page
        assert len(reader.get("/api/v1/messages?correlation_id=wf").json()["results"]) == 20


def test_propagation_health_of_a_job_over_the_api(reader, outsider_api, ns):
    job = factories.job(ns, "invoice")
    factories.execution(job, message_id="m1", correlation_id="wf", causation_id="req")
    factories.execution(job, message_id="m2")  # carries no correlation / causation id
    response = reader.get("/api/v1/jobs/payments/invoice/propagation")
    assert response.status_code == 200
    body = response.json()
    assert (body["executions"], body["complete"], body["health"]) == (2, 1, 0.5)
    assert body["gaps"]["envelope_incomplete"] == 1
    assert outsider_api.get("/api/v1/jobs/payments/invoice/propagation").status_code == 404


def test_execution_causality_over_the_api(reader, outsider_api, ns):
    fc.message(ns, "m1", correlation_id="wf", causation_id="req")
    factories.execution(factories.job(ns, "invoice"), "7", message_id="m1", correlation_id="wf", causation_id="req")
    response = reader.get("/api/v1/jobs/payments/invoice/executions/7/causality")
    assert response.status_code == 200
    assert [h["id"] for h in response.json()["caused_by"]["hops"]] == ["m1", "req"]
    assert outsider_api.get("/api/v1/jobs/payments/invoice/executions/7/causality").status_code == 404


def test_ids_with_a_nul_character_are_refused_or_name_nothing(api, reader, owner, client, ns):
    response = api.post("/api/v1/messages", [{"message_id": "a\x00b"}], format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "message_id"
    assert reader.get("/api/v1/messages?correlation_id=a%00b").json()["results"] == []
    assert reader.get("/api/v1/correlations/a%00b").status_code == 404
    assert reader.get("/api/v1/jobs/payments/x%00/propagation").status_code == 404
    assert reader.get("/api/v1/jobs/payments/x/executions/a%00/causality").status_code == 404
    client.force_login(owner)
    assert client.get("/correlations/a%00b/").status_code == 404


def post_raw(client, body: bytes):
    """Sent as bytes: the test client's JSON renderer cannot encode a lone surrogate, but a real sender can."""
    return client.post("/api/v1/messages", data=body, content_type="application/json")


@pytest.mark.parametrize(
    "field",
    ["message_id", "correlation_id", "causation_id", "tenant_id", "event_type", "producer_service", "namespace"],
)
def test_an_unpaired_surrogate_in_a_text_field_is_a_400_naming_item_and_field(api, ns, field):
    fc.message(ns, "kept", correlation_id="wf")
    before = list(Message.objects.order_by("pk").values_list())
    body = b'[{"message_id": "fine"}, {"message_id": "m-2", "%s": "x\\ud800y"}]' % field.encode()
    response = post_raw(api, body)
    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert (error["index"], error["field"]) == (1, field)
    assert "surrogate" in error["message"]
    assert list(Message.objects.order_by("pk").values_list()) == before


def test_a_surrogate_pair_is_one_character_and_is_stored(api, ns):
    response = post_raw(api, b'[{"message_id": "m", "event_type": "\\ud83d\\ude00"}]')
    assert response.status_code == 200, response.content
    assert Message.objects.get(namespace=ns, message_id="m").event_type == "\U0001f600"


@pytest.mark.parametrize("field", ["published_at", "consumed_at"])
def test_a_time_with_an_offset_beyond_15_59_is_stored_in_utc(api, ns, field):
    response = api.post("/api/v1/messages", [{"message_id": "m", field: "2024-01-01T00:00:00+23:00"}], format="json")
    assert response.status_code == 200, response.content
    stored = getattr(Message.objects.get(namespace=ns, message_id="m"), field)
    assert stored == datetime(2023, 12, 31, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-15:00", "0001-01-01T00:00:00+05:00"])
@pytest.mark.parametrize("field", ["published_at", "consumed_at"])
def test_a_time_out_of_range_is_a_400_naming_item_and_field_and_stores_nothing(api, ns, field, moment):
    response = api.post("/api/v1/messages", [{"message_id": "fine"}, {"message_id": "m", field: moment}], format="json")
    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert (error["index"], error["field"]) == (1, field)
    assert "out of range" in error["message"]
    assert not Message.objects.exists()
