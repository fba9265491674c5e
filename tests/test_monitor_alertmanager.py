"""The monitor's notifications through Debian's real Alertmanager: a missed tick is posted to its /api/v2/alerts
with the labels the console's webhook links by, Alertmanager notifies the console (under gunicorn), and the alert
arrives on /alerts/ linked to the missed run; when the next run succeeds the monitor resolves it, and so does
Alertmanager's resolved notification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.core.management import call_command

from jobs.choices import RunStatus
from jobs.models import Execution
from jobs.schedules.store import sync_state
from tests import factories
from tests.peers.alertmanager import wait_for_console_alert

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_missed_tick_reaches_alertmanager_and_comes_back_linked_to_it_then_resolves(
    live_console, alertmanager, settings
):
    ns = factories.namespace("payments")
    token = factories.token(ns, ["ingest", "read"])
    now = datetime.now(UTC)
    job = factories.job(ns, "every-five", schedule="*/5 * * * *", grace_seconds=60)
    good = factories.execution(
        job, "ok-1", status=RunStatus.SUCCEEDED, started_at=now - timedelta(hours=2), trace_id=factories.trace_id()
    )
    sync_state(job, now - timedelta(minutes=7), reset=True)  # one or two ticks since, at least one past its grace
    settings.JOBTRACE_ALERTMANAGER_URL = alertmanager.url
    settings.JOBTRACE_PUBLIC_URL = live_console.url
    matchers = ['namespace="payments"', 'alertname="JobRunMissed"']

    with alertmanager.route(token, live_console.url, matchers=matchers):
        call_command("monitor", "--once")
        missed = list(Execution.objects.filter(job=job, status=RunStatus.MISSED).order_by("scheduled_at"))
        assert missed
        held = alertmanager.alerts(*matchers)
        assert {a["labels"]["execution_id"] for a in held} == {m.execution_id for m in missed}
        alert = held[0]
        assert alert["labels"]["job"] == "every-five"
        assert alert["annotations"]["last_success"] == f"{live_console.url}/jobs/payments/every-five/runs/ok-1/"
        assert alert["generatorURL"].startswith(f"{live_console.url}/jobs/payments/every-five/runs/missed-")

        firing = wait_for_console_alert(
            live_console.url, token, lambda a: a["name"] == "JobRunMissed", alertmanager=alertmanager
        )
        (linked,) = firing["executions"]
        assert linked["execution_id"] in {m.execution_id for m in missed}
        assert linked["status"] == "missed"
        page = requests.get(f"{live_console.url}{linked['url']}", timeout=10)
        assert page.status_code in (200, 302)  # the run's page exists (302: sign-in first)

        # The next run succeeds: the monitor resolves, Alertmanager says so to the console.
        record = {"job": "every-five", "execution_id": "ok-2", "status": "succeeded"}
        started = datetime.now(UTC).isoformat()
        posted = requests.post(
            f"{live_console.url}/api/v1/executions",
            json={**record, "started_at": started, "finished_at": started},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert posted.status_code == 200, posted.text
        call_command("monitor", "--once")
        wait_for_console_alert(
            live_console.url,
            token,
            lambda a: a["name"] == "JobRunMissed" and a["status"] == "resolved",
            alertmanager=alertmanager,
        )
        assert alertmanager.alerts(*matchers) == []
    assert good.pk
