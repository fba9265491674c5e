"""PUT /api/v1/jobs/<ns>/<job>: a job declared with its schedule, fields left out kept, bad fields named (nothing
stored), the ingest scope required, and another namespace refused; the job page shows it in words."""

from __future__ import annotations

import pytest
from django.test import override_settings

from jobs.models import Job
from tests import factories

URL = "/api/v1/jobs/payments/nightly"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_a_new_job_is_declared_with_its_schedule_and_read_back(api):
    body = {
        "kind": "sharded",
        "schedule": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "grace_seconds": 600,
        "max_runtime_seconds": 3600,
        "owner": "payments-oncall",
        "description": "Settles the day's payments.",
        "labels": {"team": "payments"},
    }
    created = api.put(URL, body, format="json")
    assert created.status_code == 201, created.json()
    assert {k: created.json()[k] for k in body} == body
    assert api.get(URL).json()["timezone"] == "Europe/Berlin"
    job = Job.objects.get(namespace__name="payments", name="nightly")
    assert (job.schedule, job.grace_seconds, job.max_runtime_seconds) == ("30 2 * * *", 600, 3600)


def test_a_field_left_out_keeps_its_stored_value(api, ns):
    factories.job(ns, "nightly", schedule="0 3 * * *", owner="ops", timezone="Asia/Tokyo", grace_seconds=60)
    updated = api.put(URL, {"schedule": "@every 15m"}, format="json")
    assert updated.status_code == 200
    job = Job.objects.get(namespace=ns, name="nightly")
    assert (job.schedule, job.owner, job.timezone, job.grace_seconds) == ("@every 15m", "ops", "Asia/Tokyo", 60)
    # An empty schedule (or null) removes it; null max_runtime_seconds clears the limit.
    api.put(URL, {"schedule": "", "max_runtime_seconds": None}, format="json")
    job.refresh_from_db()
    assert (job.schedule, job.max_runtime_seconds, job.owner) == ("", None, "ops")


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"schedule": "61 * * * *"}, "schedule", "Bad minute"),
        ({"schedule": "every day"}, "schedule", "5"),
        ({"schedule": "@every 5 minutes"}, "schedule", "not an interval"),
        ({"timezone": "Europe/Atlantis"}, "timezone", "Europe/Atlantis"),
        ({"grace_seconds": -1}, "grace_seconds", "between"),
        ({"grace_seconds": "60"}, "grace_seconds", "whole number"),
        ({"max_runtime_seconds": 0}, "max_runtime_seconds", "between"),
        ({"kind": "daily"}, "kind", "standalone"),
        ({"labels": {"team": 3}}, "labels", "team"),
        ({"owner": 7}, "owner", "string"),
        ({"cron": "0 2 * * *"}, "cron", "Unknown field"),
    ],
)
def test_a_bad_field_is_a_400_naming_it_and_nothing_is_stored(api, body, field, fragment):
    response = api.put(URL, {"owner": "ops", **body}, format="json")
    assert response.status_code == 400
    assert fragment in response.json()[field][0]
    assert not Job.objects.filter(name="nightly").exists()


def test_a_body_that_is_not_an_object_is_a_400(api):
    assert api.put(URL, ["0 2 * * *"], format="json").status_code == 400
    assert api.put(URL, "{", content_type="application/json").status_code == 400


def test_a_read_token_cannot_declare_and_an_ingest_token_can(reader, ingester):
    assert reader.put(URL, {"schedule": "0 2 * * *"}, format="json").status_code == 403
    assert ingester.put(URL, {"schedule": "0 2 * * *"}, format="json").status_code == 201


def test_an_outsider_cannot_declare_or_read_a_job_of_another_namespace(outsider_api, api, ns):
    factories.job(ns, "nightly", schedule="0 3 * * *")
    refused = outsider_api.put(URL, {"schedule": "* * * * *"}, format="json")
    assert refused.status_code == 403
    assert outsider_api.get(URL).status_code == 404
    assert Job.objects.get(namespace=ns, name="nightly").schedule == "0 3 * * *"


def test_a_signed_in_viewer_cannot_declare_and_an_editor_can(client, ns, other_ns):
    viewer = factories.user(ns, "viewer", username="viewer")
    client.force_login(viewer)
    assert client.put(URL, {"schedule": "0 2 * * *"}, content_type="application/json").status_code == 403
    editor = factories.user(ns, "editor", username="editor")
    client.force_login(editor)
    assert client.put(URL, {"schedule": "0 2 * * *"}, content_type="application/json").status_code == 201
    outsider = factories.user(other_ns, "admin", username="outsider")
    client.force_login(outsider)
    assert client.put(URL, {"schedule": "* * * * *"}, content_type="application/json").status_code == 403


def test_the_sdk_declares_the_job_through_the_api(live_server, ns):
    from jobtrace_sdk import Jobtrace

    jt = Jobtrace(url=live_server.url, token=factories.token(ns, ["ingest"]), namespace="payments")
    declared = jt.declare_job("etl/daily", schedule="0 4 * * 1-5", timezone="America/New_York", grace_seconds=120)
    assert declared.ok, declared.error
    assert declared.answer["name"] == "etl/daily"
    job = Job.objects.get(namespace=ns, name="etl/daily")
    assert (job.schedule, job.timezone, job.grace_seconds) == ("0 4 * * 1-5", "America/New_York", 120)
    refused = jt.declare_job("etl/daily", schedule="0 4 * * 8")
    assert not refused.ok
    assert refused.status_code == 400
    assert "schedule" in refused.error


@override_settings(TIME_ZONE="UTC")
def test_the_job_page_shows_the_schedule_in_words_and_the_next_runs_in_the_jobs_zone(client, ns):
    factories.job(ns, "nightly", schedule="30 2 * * *", timezone="Europe/Berlin", grace_seconds=600)
    client.force_login(factories.user(ns, "viewer", username="viewer"))
    page = client.get("/jobs/payments/nightly/").content.decode()
    assert "At 02:30 (Europe/Berlin)" in page
    next_runs = page.split('class="next-runs"')[1].split("</ol>")[0]
    assert next_runs.count("02:30 CE") == 5  # the next five runs, in Berlin time (CET or CEST)
    assert "10 min" in page  # the grace


def test_the_job_page_of_an_unscheduled_job_shows_no_schedule_card(client, ns):
    factories.job(ns, "adhoc")
    client.force_login(factories.user(ns, "viewer", username="viewer"))
    assert 'id="schedule"' not in client.get("/jobs/payments/adhoc/").content.decode()


def test_the_schedule_strip_links_each_tick_to_its_run_and_a_missed_one_to_the_last_good_run(client, ns):
    from datetime import UTC, datetime, timedelta

    from jobs.schedules.monitor import run_check
    from jobs.schedules.store import sync_state

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    job = factories.job(ns, "every-five", schedule="*/5 * * * *", grace_seconds=60)
    sync_state(job, now - timedelta(minutes=31), reset=True)
    trace = factories.trace_id()
    last_tick = now - timedelta(minutes=now.minute % 5)
    good_at = last_tick - timedelta(minutes=10)
    factories.execution(job, "good", status="succeeded", started_at=good_at + timedelta(seconds=5), trace_id=trace)
    factories.execution(job, "bad", status="failed", started_at=good_at + timedelta(minutes=5, seconds=5))
    run_check(datetime.now(UTC))
    client.force_login(factories.user(ns, "viewer", username="viewer"))
    page = client.get("/jobs/payments/every-five/").content.decode()
    strip = page.split('class="tick-strip"')[1].split("</ol>")[0]
    assert 'data-outcome="on_time"><a href="/jobs/payments/every-five/runs/good/"' in strip
    assert 'data-outcome="failed"><a href="/jobs/payments/every-five/runs/bad/"' in strip
    assert 'data-outcome="missed"><a href="/jobs/payments/every-five/runs/good/"' in strip  # the last good run
    assert f'href="/traces/{trace}' in page.split('class="last-success"')[1]
