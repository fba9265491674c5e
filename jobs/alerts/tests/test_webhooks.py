"""POST /api/v1/alerts/alertmanager and /grafana: real payloads, repeats, resolution, auth, 400s and 503s."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from jobs.choices import RunStatus
from jobs.models import Alert, AlertLink
from tests import factories
from tests import factories_alerts as fa

AM = "/api/v1/alerts/alertmanager"
GRAFANA = "/api/v1/alerts/grafana"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Personas' passwords are hashed at creation; a fast hasher keeps setup cheap (no test signs in by password)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _post(client, url, body):
    raw = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(url, data=raw, content_type="application/json")


@pytest.mark.parametrize(
    ("name", "distinct"),
    [
        ("alertmanager_webhook_v4_firing_10_alerts.json", 10),
        ("alertmanager_webhook_v4_many_alerts_regex_groupkey.json", 12),
        ("alertmanager_webhook_v4_minimal_legacy_2018.json", 1),
        ("alertmanager_webhook_v4_mixed_firing_and_resolved.json", 4),
        ("alertmanager_webhook_v4_resolved_2_alerts.json", 2),
    ],
)
def test_every_alertmanager_fixture_is_accepted_and_stored_once(ingester, ns, fixtures_dir, name, distinct):
    raw = (fixtures_dir / "alertmanager" / name).read_bytes()
    first = _post(ingester, AM, raw)
    assert first.status_code == 200, first.content
    assert first.json()["stored"] == distinct
    assert Alert.objects.filter(namespace=ns).count() == distinct
    again = _post(ingester, AM, raw)
    assert again.status_code == 200
    assert Alert.objects.filter(namespace=ns).count() == distinct
    assert [a["id"] for a in again.json()["alerts"]] == [a["id"] for a in first.json()["alerts"]]


@pytest.mark.parametrize(
    ("name", "distinct"),
    [("grafana_webhook_docs_example_2_alerts.json", 2), ("grafana_webhook_real_capture_single_alert.json", 1)],
)
def test_every_grafana_fixture_is_accepted(ingester, ns, fixtures_dir, name, distinct):
    raw = (fixtures_dir / "grafana_alerting" / name).read_bytes()
    response = _post(ingester, GRAFANA, raw)
    assert response.status_code == 200, response.content
    assert Alert.objects.filter(namespace=ns, source="grafana").count() == distinct
    _post(ingester, GRAFANA, raw)
    assert Alert.objects.filter(namespace=ns).count() == distinct


def test_the_real_fingerprint_and_times_are_kept(ingester, ns, fixtures_dir):
    raw = (fixtures_dir / "grafana_alerting" / "grafana_webhook_real_capture_single_alert.json").read_bytes()
    body = _post(ingester, GRAFANA, raw).json()
    alert = Alert.objects.get(namespace=ns)
    assert alert.fingerprint == "68d4e65db3ad9208" == body["alerts"][0]["fingerprint"]
    assert alert.starts_at == datetime(2023, 3, 29, 9, 41, 10, tzinfo=UTC)
    assert alert.ends_at is None
    assert alert.status == "firing"
    assert alert.name == "CPU Usage High"
    assert alert.receiver == "test-webhook"


def test_a_repeated_notification_updates_the_alert_instead_of_duplicating_it(ingester, ns):
    start = timezone.now() - timedelta(minutes=10)
    _post(ingester, AM, fa.notification(fa.alert({"job": "nightly"}, start)))
    repeat = fa.alert({"job": "nightly"}, start)
    repeat["annotations"] = {"summary": "still failing"}
    _post(ingester, AM, fa.notification(repeat))
    alert = Alert.objects.get(namespace=ns)
    assert alert.annotations == {"summary": "still failing"}
    assert alert.status == "firing"


def test_a_resolved_notification_closes_the_alert(ingester, ns):
    start = timezone.now() - timedelta(minutes=30)
    end = start + timedelta(minutes=20)
    _post(ingester, AM, fa.notification(fa.alert({"job": "nightly"}, start)))
    response = _post(ingester, AM, fa.notification(fa.alert({"job": "nightly"}, start, status="resolved", ends_at=end)))
    assert response.json()["alerts"][0]["status"] == "resolved"
    alert = Alert.objects.get(namespace=ns)
    assert (alert.status, alert.ends_at) == ("resolved", end)


def test_a_late_firing_copy_does_not_reopen_a_resolved_alert(ingester, ns):
    start = timezone.now() - timedelta(minutes=30)
    end = start + timedelta(minutes=20)
    _post(ingester, AM, fa.notification(fa.alert({"job": "nightly"}, start, status="resolved", ends_at=end)))
    _post(ingester, AM, fa.notification(fa.alert({"job": "nightly"}, start)))
    alert = Alert.objects.get(namespace=ns)
    assert (alert.status, alert.ends_at) == ("resolved", end)


def test_the_same_alert_firing_again_later_is_a_new_alert(ingester, ns):
    start = timezone.now() - timedelta(hours=3)
    labels = {"job": "nightly"}
    _post(ingester, AM, fa.notification(fa.alert(labels, start, status="resolved", ends_at=start + timedelta(hours=1))))
    _post(ingester, AM, fa.notification(fa.alert(labels, start + timedelta(hours=2))))
    assert list(Alert.objects.filter(namespace=ns).order_by("starts_at").values_list("status", flat=True)) == [
        "resolved",
        "firing",
    ]


def test_the_resolved_fixture_closes_the_alert_the_mixed_fixture_opened(ingester, ns, fixtures_dir):
    folder = fixtures_dir / "alertmanager"
    mixed = json.loads((folder / "alertmanager_webhook_v4_mixed_firing_and_resolved.json").read_bytes())
    mixed["alerts"][1]["status"] = "firing"  # host 10.30.1.161 still firing in this copy
    _post(ingester, AM, mixed)
    assert Alert.objects.filter(namespace=ns, status="firing").count() == 4
    _post(ingester, AM, (folder / "alertmanager_webhook_v4_resolved_2_alerts.json").read_bytes())
    closed = Alert.objects.get(namespace=ns, labels__host="10.30.1.161")
    assert closed.status == "resolved"
    assert closed.ends_at == datetime(2021, 3, 30, 13, 17, 50, 814674, tzinfo=UTC)
    assert Alert.objects.filter(namespace=ns, status="firing").count() == 3


def test_the_response_lists_linked_executions_with_console_urls(ingester, ns):
    job = factories.job(ns, "settlement-migration")
    run = factories.execution(job, "run-42", status=RunStatus.FAILED)
    shard = factories.shard(run, "acct-1000002", status=RunStatus.FAILED)
    start = timezone.now() - timedelta(minutes=1)
    labels = {"job": "settlement-migration", "execution_id": "run-42", "shard_id": "acct-1000002"}
    body = _post(ingester, AM, fa.notification(fa.alert(labels, start))).json()
    (received,) = body["alerts"]
    assert received["url"] == f"/alerts/{received['id']}/"
    (linked,) = received["executions"]
    assert linked["url"] == "/jobs/payments/settlement-migration/runs/run-42/"
    assert linked["shard_url"] == "/jobs/payments/settlement-migration/runs/run-42/shards/acct-1000002/"
    assert (linked["execution_id"], linked["shard_id"], linked["reason"]) == ("run-42", "acct-1000002", "shard_id")
    assert AlertLink.objects.get().shard == shard


def test_an_unlinked_alert_says_why(ingester, ns):
    body = _post(ingester, AM, fa.notification(fa.alert({"job": "nope"}, timezone.now()))).json()
    assert body["alerts"][0]["executions"] == []
    assert "nope" in body["alerts"][0]["note"]


def test_truncated_groups_are_reported_back(ingester):
    payload = fa.notification(fa.alert({"job": "x"}, timezone.now()), truncatedAlerts=40)
    assert _post(ingester, AM, payload).json()["truncated_alerts"] == 40


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p["alerts"][0].pop("startsAt"), "alerts[0].startsAt"),
        (lambda p: p["alerts"][0].update(startsAt="not a time"), "alerts[0].startsAt"),
        (lambda p: p.update(alerts="many"), "alerts"),
        (lambda p: p["alerts"][0]["labels"].update(job=3), "alerts[0].labels.job"),
        (lambda p: p.update(status="exploded"), "status"),
    ],
)
def test_a_bad_payload_gets_a_400_naming_the_field(ingester, ns, mutate, field):
    payload = fa.notification(fa.alert({"job": "nightly"}, timezone.now()))
    mutate(payload)
    response = _post(ingester, AM, payload)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert field in response.json()["detail"]
    assert not Alert.objects.exists()


def test_a_body_that_is_not_json_gets_a_400(ingester):
    response = ingester.post(AM, data=b"{oops", content_type="application/json")
    assert response.status_code == 400


def test_a_batch_with_one_bad_alert_stores_nothing(ingester):
    good = fa.alert({"job": "a"}, timezone.now())
    bad = fa.alert({"job": "b"}, timezone.now(), startsAt="never")
    response = _post(ingester, AM, fa.notification(good, bad))
    assert response.status_code == 400
    assert "alerts[1].startsAt" in response.json()["errors"]
    assert not Alert.objects.exists()


def test_webhooks_need_an_ingest_token(anonymous_api, reader, outsider_api, ns):
    payload = fa.notification(fa.alert({"job": "nightly"}, timezone.now()))
    assert _post(anonymous_api, AM, payload).status_code == 401
    assert _post(reader, AM, payload).status_code == 403
    assert _post(outsider_api, AM + "?namespace=payments", payload).status_code == 403
    assert not Alert.objects.filter(namespace=ns).exists()


def test_a_signed_in_editor_posts_into_a_namespace_they_edit(client, owner, outsider, ns):
    payload = json.dumps(fa.notification(fa.alert({"job": "nightly"}, timezone.now())))
    client.force_login(owner)
    response = client.post(AM + "?namespace=payments", data=payload, content_type="application/json")
    assert response.status_code == 200
    client.force_login(outsider)
    response = client.post(AM + "?namespace=payments", data=payload, content_type="application/json")
    assert response.status_code == 403


class _DatabaseGoesAway:
    """Raises the error psycopg raises when the server is gone, from the real cursor, for matching statements."""

    def __init__(self, statement: str) -> None:
        self.statement = statement

    def __call__(self, execute, sql, params, many, context):
        if self.statement in sql:
            raise OperationalError(
                'connection to server at "127.0.0.1", port 5432 failed: Connection refused\n'
                "\tIs the server running on that host and accepting TCP/IP connections?"
            )
        return execute(sql, params, many, context)


def test_a_database_outage_while_storing_answers_503_so_alertmanager_retries(ingester, ns):
    payload = fa.notification(fa.alert({"job": "nightly"}, timezone.now()))
    with connection.execute_wrapper(_DatabaseGoesAway('INSERT INTO "jobs_alert"')):
        response = _post(ingester, AM, payload)
    assert response.status_code == 503
    assert response["Retry-After"].isdigit()
    assert "Retry" in response.json()["detail"]
    assert not Alert.objects.exists()
    assert _post(ingester, AM, payload).status_code == 200  # and the retry succeeds


def test_a_database_outage_before_authentication_also_answers_503(ingester):
    payload = fa.notification(fa.alert({"job": "nightly"}, timezone.now()))
    with connection.execute_wrapper(_DatabaseGoesAway("SELECT")):
        response = _post(ingester, GRAFANA, payload)
    assert response.status_code == 503
    assert "Retry-After" in response


def test_a_namespace_parameter_that_cannot_be_a_name_is_a_400(client, owner):
    payload = json.dumps(fa.notification(fa.alert({"job": "nightly"}, timezone.now())))
    client.force_login(owner)
    response = client.post(AM + "?namespace=pay%00ments", data=payload, content_type="application/json")
    assert response.status_code == 400


def test_a_notification_costs_the_same_queries_for_3_alerts_as_for_10(ingester, ns):
    from django.test.utils import CaptureQueriesContext

    job = factories.job(ns, "nightly")
    for i in range(10):
        factories.execution(job, f"r{i}", status=RunStatus.FAILED, trace_id=factories.trace_id())
    start = timezone.now() - timedelta(minutes=5)

    def queries_for(count: int, first: int) -> int:
        alerts = []
        for i in range(first, first + count):
            alerts.append(fa.alert({"job": "nightly", "execution_id": f"r{i % 10}", "n": str(i)}, start))
            alerts.append(fa.alert({"job": "nightly", "n": str(i)}, start))  # job window
            alerts.append(fa.alert({"shard_id": "s", "trace_id": factories.trace_id(), "n": str(i)}, start))
        with CaptureQueriesContext(connection) as captured:
            assert _post(ingester, AM, fa.notification(*alerts)).status_code == 200
        return len(captured.captured_queries)

    queries_for(1, 1000)  # the token's first use records last_used_at
    # (Small enough that SQLite's bound-parameter limit does not split the bulk statements into batches.)
    assert queries_for(3, 0) == queries_for(10, 100)
