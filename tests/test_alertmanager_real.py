"""Debian's real Alertmanager notifies the console (under gunicorn) through its webhook receiver: the alert Prometheus
would post to Alertmanager arrives as Alertmanager sends it (its grouping, fingerprint, bearer token, resolved
notification), is stored in the token's namespace, and links to the execution its labels name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from jobs.choices import RunStatus
from jobs.models import Alert, AlertLink
from tests import factories
from tests.peers.alertmanager import ROUTE_LABEL, console_alerts, wait_for_console_alert

pytestmark = pytest.mark.django_db(transaction=True)


def _when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def _get(url: str, token: str) -> requests.Response:
    return requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_alertmanager_delivers_a_firing_then_a_resolved_alert_linked_to_its_execution(live_console, alertmanager):
    ns = factories.namespace("payments")
    token = factories.token(ns, ["ingest", "read"])
    outsider_token = factories.token(factories.namespace("search-team"), ["ingest", "read"])
    now = datetime.now(UTC)
    job = factories.job(ns, "settlement-migration")
    run = factories.execution(
        job, "run-42", status=RunStatus.FAILED, started_at=now - timedelta(minutes=20), finished_at=now
    )
    factories.shard(run, "acct-1000002", status=RunStatus.FAILED)
    factories.execution(job, "run-41", status=RunStatus.FAILED, started_at=now - timedelta(days=2))  # not named
    labels = {
        "alertname": "SettlementFailed",
        "namespace": "payments",
        "job": "settlement-migration",
        "execution_id": "run-42",
        "shard_id": "acct-1000002",
        "severity": "page",
    }
    starts_at = now - timedelta(minutes=2)

    with alertmanager.route(token, live_console.url) as route:
        alertmanager.post_alerts([route.alert(labels, starts_at=starts_at, annotations={"summary": "run-42 failed"})])
        firing = wait_for_console_alert(live_console.url, token, lambda a: True, alertmanager=alertmanager)

        # What Alertmanager holds (the other direction's helper) is what it sent.
        (held,) = alertmanager.alerts(f'{ROUTE_LABEL}="{route.name}"')
        assert held["receivers"] == [{"name": route.name}]
        assert firing["fingerprint"] == held["fingerprint"]
        assert (firing["source"], firing["status"], firing["name"]) == ("alertmanager", "firing", "SettlementFailed")
        assert firing["receiver"] == route.name
        assert firing["labels"] == {**labels, ROUTE_LABEL: route.name}
        assert firing["annotations"] == {"summary": "run-42 failed"}
        assert _when(firing["starts_at"]) == starts_at
        assert firing["ends_at"] is None
        assert firing["group_key"]  # Alertmanager's own group key, e.g. {}/{jt_route="r1"}:{alertname=...}
        assert [(e["execution_id"], e["shard_id"], e["reason"], e["status"]) for e in firing["executions"]] == [
            ("run-42", "acct-1000002", "shard_id", "failed")
        ]
        assert firing["executions"][0]["url"] == "/jobs/payments/settlement-migration/runs/run-42/"

        detail = _get(f"{live_console.url}/api/v1/alerts/{firing['id']}", token)
        assert detail.status_code == 200
        assert [e["execution_id"] for e in detail.json()["executions"]] == ["run-42"]

        ends_at = datetime.now(UTC)
        alertmanager.post_alerts([route.alert(labels, starts_at=starts_at, ends_at=ends_at)])
        resolved = wait_for_console_alert(
            live_console.url, token, lambda a: a["status"] == "resolved", alertmanager=alertmanager
        )
        assert alertmanager.alerts(f'{ROUTE_LABEL}="{route.name}"') == []  # resolved: no longer listed

    assert resolved["id"] == firing["id"]  # the same alert updated, not a second one
    assert _when(resolved["ends_at"]) == ends_at
    assert _when(resolved["starts_at"]) == starts_at
    assert [e["execution_id"] for e in resolved["executions"]] == ["run-42"]
    assert Alert.objects.filter(namespace=ns).count() == 1
    assert AlertLink.objects.filter(alert_id=firing["id"]).count() == 1  # the resolved copy added no second link

    # Another namespace's token sees neither the alert nor that it exists.
    assert console_alerts(live_console.url, outsider_token) == []
    assert _get(f"{live_console.url}/api/v1/alerts/{firing['id']}", outsider_token).status_code == 404


def test_an_outsider_s_alertmanager_naming_another_namespace_s_run_links_nothing(live_console, alertmanager):
    ns = factories.namespace("payments")
    owner_token = factories.token(ns, ["ingest", "read"])
    run = factories.execution(factories.job(ns, "settlement-migration"), "run-42", status=RunStatus.FAILED)
    outsider_token = factories.token(factories.namespace("search-team"), ["ingest", "read"])
    labels = {"alertname": "Probe", "job": "settlement-migration", "execution_id": run.execution_id}

    with alertmanager.route(outsider_token, live_console.url) as route:
        alertmanager.post_alerts([route.alert(labels, starts_at=datetime.now(UTC) - timedelta(minutes=1))])
        stored = wait_for_console_alert(live_console.url, outsider_token, lambda a: True, alertmanager=alertmanager)

    assert stored["namespace"] == "search-team"
    assert stored["executions"] == []
    assert not AlertLink.objects.filter(execution=run).exists()
    assert console_alerts(live_console.url, owner_token) == []
