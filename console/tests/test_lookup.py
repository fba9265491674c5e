"""GET /api/v1/lookup?id=: every kind of id resolves to its console page; an outsider gets nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.alerts.ingest import parse_alertmanager
from jobs.alerts.store import store_notification
from jobs.models import Message
from tests import factories
from tests import factories_alerts as fa
from traces.models import Trace

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Personas' passwords are hashed at creation; a fast hasher keeps setup cheap (no test signs in by password)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(ns):
    trace_id = factories.trace_id()
    job = factories.job(ns, "settlement")
    run = factories.execution(job, "run-77", trace_id=factories.trace_id(), correlation_id="corr-1")
    shard = factories.shard(run, "acct-1000002")
    Trace.objects.create(
        namespace=ns, trace_id=trace_id, start_ns=1, duration_ns=5, root_service="api", root_name="GET /", job=job
    )
    Message.objects.create(
        namespace=ns, message_id="msg-1", correlation_id="corr-1", event_type="order.created", trace_id=trace_id
    )
    (stored,) = store_notification(
        parse_alertmanager(fa.notification(fa.alert({"job": "settlement"}, timezone.now() - timedelta(minutes=1)))),
        ns,
    ).alerts
    return {"trace_id": trace_id, "run": run, "shard": shard, "alert": stored.alert}


def _results(client, query):
    response = client.get("/api/v1/lookup", {"id": query})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_a_trace_id_resolves_to_its_trace_page(reader, world):
    (match,) = _results(reader, world["trace_id"])
    assert match["kind"] == "trace"
    assert match["url"] == f"/traces/{world['trace_id']}/"
    assert match["ids"] == {"trace_id": world["trace_id"]}
    assert match["namespace"] == "payments"
    assert match["label"]


def test_an_execution_id_resolves_to_its_execution_page(reader, world):
    (match,) = _results(reader, "run-77")
    assert (match["kind"], match["url"]) == ("execution", "/jobs/payments/settlement/runs/run-77/")
    assert match["ids"] == {"job": "settlement", "execution_id": "run-77"}


def test_an_executions_trace_id_resolves_to_it_before_any_span_arrives(reader, world):
    (match,) = _results(reader, world["run"].trace_id)
    assert (match["kind"], match["ids"]["execution_id"]) == ("execution", "run-77")


def test_a_shard_id_resolves_to_its_shard_page(reader, world):
    (match,) = _results(reader, "acct-1000002")
    assert match["kind"] == "shard"
    assert match["url"] == "/jobs/payments/settlement/runs/run-77/shards/acct-1000002/"


def test_a_message_id_resolves_to_its_workflow(reader, world):
    (match,) = _results(reader, "msg-1")
    assert (match["kind"], match["url"]) == ("message", "/correlations/corr-1/")


def test_a_correlation_id_resolves_to_the_causality_page(reader, world):
    (match,) = _results(reader, "corr-1")
    assert (match["kind"], match["url"]) == ("correlation", "/correlations/corr-1/")


def test_an_alert_fingerprint_resolves_to_the_alert_page(reader, world):
    alert = world["alert"]
    (match,) = _results(reader, alert.fingerprint)
    assert (match["kind"], match["url"]) == ("alert", f"/alerts/{alert.pk}/")


def test_an_unknown_id_resolves_to_nothing(reader, world):
    assert _results(reader, "no-such-thing") == []


def test_an_outsider_gets_nothing_for_any_of_our_ids(outsider_api, world):
    for query in (
        world["trace_id"],
        world["run"].trace_id,
        "run-77",
        "acct-1000002",
        "msg-1",
        "corr-1",
        world["alert"].fingerprint,
    ):
        assert _results(outsider_api, query) == [], query


def test_an_id_in_both_namespaces_shows_only_the_callers(reader, outsider_api, world, other_ns):
    factories.execution(factories.job(other_ns, "settlement"), "run-77")
    assert [m["namespace"] for m in _results(reader, "run-77")] == ["payments"]
    assert [m["namespace"] for m in _results(outsider_api, "run-77")] == ["search-team"]


def test_lookup_needs_an_id_and_the_read_scope(reader, ingester, anonymous_api):
    assert reader.get("/api/v1/lookup").status_code == 400
    assert "id" in reader.get("/api/v1/lookup").json()
    assert reader.get("/api/v1/lookup", {"id": "x" * 301}).status_code == 400
    assert ingester.get("/api/v1/lookup", {"id": "run-77"}).status_code == 403
    assert anonymous_api.get("/api/v1/lookup", {"id": "run-77"}).status_code == 401


def test_a_signed_in_teammate_can_look_up(client, teammate, world):
    client.force_login(teammate)
    assert client.get("/api/v1/lookup", {"id": "run-77"}).json()["results"][0]["kind"] == "execution"


def test_an_id_with_a_nul_character_resolves_to_nothing_instead_of_failing(ns, world):
    from console.lookup import resolve

    assert resolve("run\x0077", [ns.pk]) == []


@pytest.fixture
def spans(ns, world):
    """Two stored traces whose ids share their first 10 hex digits, one span each."""
    from tests import factories_traces as ft

    first, second = "abcdef0123" + "1" * 22, "abcdef0123" + "2" * 22
    for trace_id, span_id in ((first, "00f067aa0ba902b7"), (second, "1111222233334444")):
        ft.span(ns, trace_id, span_id=span_id, service="account-service", name="validate")
        ft.summarise(ns, trace_id)
    return {"first": first, "second": second}


def test_a_span_id_opens_its_trace_at_the_span(reader, outsider_api, spans):
    (match,) = _results(reader, "00F067AA0BA902B7")
    assert match["kind"] == "span"
    assert match["url"] == f"/traces/{spans['first']}/?span=00f067aa0ba902b7"
    assert match["ids"] == {"trace_id": spans["first"], "span_id": "00f067aa0ba902b7"}
    assert _results(outsider_api, "00f067aa0ba902b7") == []


def test_a_traceparent_opens_its_trace_at_the_span(reader, outsider_api, spans, world):
    (match,) = _results(reader, f"00-{spans['first']}-00f067aa0ba902b7-01")
    assert (match["kind"], match["url"]) == ("span", f"/traces/{spans['first']}/?span=00f067aa0ba902b7")
    # As pasted from a header dump; a span the console lacks still finds its trace.
    (match,) = _results(reader, f"traceparent: 00-{spans['first']}-{'9' * 16}-01")
    assert (match["kind"], match["url"]) == ("trace", f"/traces/{spans['first']}/")
    # A run that names the trace before its spans arrived.
    (match,) = _results(reader, f"00-{world['run'].trace_id}-{'9' * 16}-00")
    assert (match["kind"], match["ids"]["execution_id"]) == ("execution", "run-77")
    assert _results(outsider_api, f"00-{spans['first']}-00f067aa0ba902b7-01") == []
    # Not a traceparent: a zero id or version ff.
    assert _results(reader, f"ff-{spans['first']}-00f067aa0ba902b7-01") == []
    assert _results(reader, f"00-{'0' * 32}-00f067aa0ba902b7-01") == []


def test_a_trace_id_prefix_of_eight_digits_opens_the_one_trace_it_names(reader, outsider_api, spans):
    (match,) = _results(reader, spans["first"][:12])
    assert (match["kind"], match["url"]) == ("trace", f"/traces/{spans['first']}/")
    assert _results(outsider_api, spans["first"][:12]) == []
    assert _results(reader, spans["first"][:7]) == []  # too short to mean one trace


def test_an_ambiguous_prefix_lists_every_candidate(client, owner, reader, spans):
    found = _results(reader, "ABCDEF0123")
    assert {m["url"] for m in found} == {f"/traces/{spans['first']}/", f"/traces/{spans['second']}/"}
    client.force_login(owner)
    page = client.get("/search", {"q": "abcdef0123"})
    assert page.status_code == 200  # listed, not redirected
    body = page.content.decode()
    assert f"/traces/{spans['first']}/" in body
    assert f"/traces/{spans['second']}/" in body
