"""GET /api/v1/alerts (filters, pagination, query count) and /api/v1/alerts/<id>, scoped to the caller."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.alerts.ingest import parse_alertmanager
from jobs.alerts.store import store_notification
from jobs.choices import RunStatus
from tests import factories
from tests import factories_alerts as fa

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Personas' passwords are hashed at creation; a fast hasher keeps setup cheap (no test signs in by password)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _store(namespace, *alerts):
    return store_notification(parse_alertmanager(fa.notification(*alerts)), namespace).alerts


@pytest.fixture
def alerts(ns, other_ns):
    now = timezone.now()
    job = factories.job(ns, "nightly")
    factories.execution(job, "r1", status=RunStatus.FAILED, started_at=now - timedelta(hours=5))
    firing = _store(ns, fa.alert({"job": "nightly", "execution_id": "r1"}, now - timedelta(hours=5)))[0].alert
    resolved = _store(
        ns,
        fa.alert({"job": "other"}, now - timedelta(days=2), status="resolved", ends_at=now - timedelta(days=1)),
    )[0].alert
    theirs = _store(other_ns, fa.alert({"job": "nightly"}, now - timedelta(hours=1)))[0].alert
    return {"firing": firing, "resolved": resolved, "theirs": theirs}


def _ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_the_list_shows_only_the_callers_alerts_newest_first(reader, outsider_api, alerts):
    assert _ids(reader.get("/api/v1/alerts")) == [alerts["resolved"].pk, alerts["firing"].pk]
    assert _ids(outsider_api.get("/api/v1/alerts")) == [alerts["theirs"].pk]


def test_the_list_filters_by_status_job_and_time(reader, alerts):
    assert _ids(reader.get("/api/v1/alerts?status=resolved")) == [alerts["resolved"].pk]
    assert _ids(reader.get("/api/v1/alerts?job=nightly")) == [alerts["firing"].pk]
    assert _ids(reader.get("/api/v1/alerts?job=other")) == [alerts["resolved"].pk]
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert _ids(reader.get("/api/v1/alerts", {"since": since})) == [alerts["firing"].pk]
    assert _ids(reader.get("/api/v1/alerts", {"until": since})) == [alerts["resolved"].pk]


def test_bad_filters_get_a_400_naming_them(reader, alerts):
    response = reader.get("/api/v1/alerts?status=exploded&since=yesterday")
    assert response.status_code == 400
    assert set(response.json()) >= {"status", "since"}


def test_one_alert_carries_its_linked_executions(reader, alerts):
    body = reader.get(f"/api/v1/alerts/{alerts['firing'].pk}").json()
    assert body["url"] == f"/alerts/{alerts['firing'].pk}/"
    assert body["namespace"] == "payments"
    assert [(e["execution_id"], e["url"]) for e in body["executions"]] == [("r1", "/jobs/payments/nightly/runs/r1/")]


def test_another_namespaces_alert_is_a_404(outsider_api, reader, alerts):
    assert outsider_api.get(f"/api/v1/alerts/{alerts['firing'].pk}").status_code == 404
    assert reader.get(f"/api/v1/alerts/{alerts['theirs'].pk}").status_code == 404


def test_reading_alerts_needs_the_read_scope(ingester, anonymous_api, alerts):
    assert ingester.get("/api/v1/alerts").status_code == 403
    assert anonymous_api.get("/api/v1/alerts").status_code == 401


def test_a_signed_in_teammate_reads_the_list(client, teammate, alerts):
    client.force_login(teammate)
    assert len(client.get("/api/v1/alerts").json()["results"]) == 2


def test_the_list_query_count_does_not_grow_with_alerts_or_links(reader, ns, django_assert_num_queries):
    now = timezone.now()
    job = factories.job(ns, "busy")
    for i in range(5):
        factories.execution(job, f"r{i}", status=RunStatus.FAILED, started_at=now - timedelta(minutes=10))
    _store(ns, *[fa.alert({"job": "busy", "n": str(i)}, now - timedelta(minutes=5)) for i in range(6)])
    # token, its last_used_at, alerts page, their links (with execution, job, namespace and shard)
    with django_assert_num_queries(4):
        response = reader.get("/api/v1/alerts")
    assert len(response.json()["results"]) == 6
    assert all(len(a["executions"]) == 5 for a in response.json()["results"])


def test_times_with_offsets_postgresql_cannot_hold_are_read_as_utc(reader, alerts):
    # ISO 8601 allows offsets up to ±23:59; PostgreSQL only ±15:59. The filter compares in UTC.
    response = reader.get("/api/v1/alerts", {"since": "2000-06-16T19:06:30-22:39"})
    assert response.status_code == 200
    assert reader.get("/api/v1/alerts", {"until": "9999-12-31T23:00:00-05:00"}).status_code == 400


def test_a_limit_that_is_not_a_positive_integer_is_a_400(reader, alerts):
    assert reader.get("/api/v1/alerts?limit=abc").status_code == 400
    assert reader.get("/api/v1/alerts?limit=0").status_code == 400
    assert len(reader.get("/api/v1/alerts?limit=1").json()["results"]) == 1
    assert len(reader.get("/api/v1/alerts?limit=100000").json()["results"]) == 2
