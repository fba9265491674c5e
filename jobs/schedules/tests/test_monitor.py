"""The monitor against the database with a fixed clock: missed rows and notices written once (also by two monitors
at the same moment, and after an hour away), a late record taking the missed tick's place, stuck runs flagged but
not rewritten, and resolution when a later run succeeds."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections

from jobs.choices import RunStatus
from jobs.models import Execution, Notice, ScheduleState
from jobs.schedules.models import NoticeKind
from jobs.schedules.monitor import ensure_states, missed_execution_id, resolve_notices, run_check
from jobs.schedules.store import sync_state
from tests import factories

T0 = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)


def scheduled(ns, name="every-five", schedule="*/5 * * * *", **fields):
    job = factories.job(ns, name, schedule=schedule, grace_seconds=60, **fields)
    sync_state(job, T0, reset=True)
    return job


@pytest.mark.django_db
def test_a_missed_tick_becomes_a_missed_execution_and_a_notice_once(ns):
    job = scheduled(ns)
    assert run_check(T0 + timedelta(minutes=5, seconds=29)).missed == 0  # 12:05 is still in its grace
    report = run_check(T0 + timedelta(minutes=5, seconds=31))
    assert report.missed == 1
    (missed,) = Execution.objects.filter(job=job)
    assert missed.status == RunStatus.MISSED
    assert missed.execution_id == "missed-20260101T120500Z"
    assert missed.scheduled_at == datetime(2026, 1, 1, 12, 5, tzinfo=UTC)
    (notice,) = Notice.objects.all()
    assert (notice.kind, notice.execution_id, notice.resolved_at) == (NoticeKind.MISSED, missed.pk, None)
    assert run_check(T0 + timedelta(minutes=6, seconds=30)).missed == 0
    assert Execution.objects.filter(job=job).count() == 1


@pytest.mark.django_db
def test_a_tick_with_a_run_is_not_missed_and_other_namespaces_are_not_touched(ns, other_ns):
    job = scheduled(ns)
    theirs = scheduled(other_ns)
    factories.execution(job, "r-1", status="succeeded", started_at=datetime(2026, 1, 1, 12, 5, 10, tzinfo=UTC))
    run_check(T0 + timedelta(minutes=7))
    assert list(Execution.objects.filter(job=job).values_list("execution_id", flat=True)) == ["r-1"]
    (their_missed,) = Execution.objects.filter(job=theirs)
    assert their_missed.namespace_id == other_ns.pk


@pytest.mark.django_db
def test_a_monitor_back_after_an_hour_reports_each_tick_it_missed_once(ns):
    job = scheduled(ns)
    run_check(T0 + timedelta(hours=1, minutes=1, seconds=31))  # 12:05 .. 13:00 decided (13:00 + 60 s grace)
    assert Execution.objects.filter(job=job, status=RunStatus.MISSED).count() == 12
    assert Notice.objects.filter(job=job).count() == 12
    run_check(T0 + timedelta(hours=1, minutes=2))
    assert Execution.objects.filter(job=job, status=RunStatus.MISSED).count() == 12


@pytest.mark.django_db(transaction=True)
def test_two_monitors_checking_at_the_same_moment_report_each_tick_once(ns):
    if connection.vendor != "postgresql":
        pytest.skip("the row locks that share the work are PostgreSQL's (SQLite serialises every write)")
    jobs = [scheduled(ns, f"job-{i}") for i in range(40)]
    now = T0 + timedelta(minutes=31)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    reported: list[int] = []

    def monitor() -> None:
        try:
            barrier.wait()
            reported.append(run_check(now).missed)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=monitor) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(reported) == 40 * 6  # each tick decided by one monitor (the unique keys are only a second guard)
    assert Execution.objects.filter(status=RunStatus.MISSED).count() == 40 * 6  # 12:05 .. 12:30 for each job
    assert Notice.objects.count() == 40 * 6
    assert len(jobs) == 40


@pytest.mark.django_db
def test_a_late_record_takes_the_missed_ticks_place_and_resolves_it_by_succeeding(api, ns):
    job = scheduled(ns, "nightly", schedule="0 2 * * *")
    ScheduleState.objects.filter(job=job).update(
        checked_until=datetime(2026, 1, 1, 1, tzinfo=UTC), due_at=datetime(2026, 1, 1, 2, 1, tzinfo=UTC)
    )
    run_check(datetime(2026, 1, 1, 2, 2, tzinfo=UTC))
    missed = Execution.objects.get(job=job, status=RunStatus.MISSED)
    record = {
        "job": "nightly",
        "execution_id": "late-1",
        "status": "succeeded",
        "started_at": "2026-01-01T02:20:00Z",
        "finished_at": "2026-01-01T02:21:00Z",
    }
    assert api.post("/api/v1/executions", record, format="json").status_code == 200
    assert not Execution.objects.filter(pk=missed.pk).exists()  # replaced
    late = Execution.objects.get(job=job, execution_id="late-1")
    kinds = dict(Notice.objects.filter(execution=late).values_list("kind", "tick"))
    assert kinds == {"missed": missed.scheduled_at, "late": missed.scheduled_at}
    assert Notice.objects.get(kind="missed").sent_execution_id == missed.execution_id  # the alert keeps its name
    assert resolve_notices(datetime(2026, 1, 1, 2, 30, tzinfo=UTC)) == 1
    # The monitor never writes the missed row again over the real run.
    ScheduleState.objects.filter(job=job).update(
        checked_until=datetime(2026, 1, 1, 1, tzinfo=UTC), due_at=datetime(2026, 1, 1, 2, 1, tzinfo=UTC)
    )
    run_check(datetime(2026, 1, 1, 2, 40, tzinfo=UTC))
    assert not Execution.objects.filter(job=job, status=RunStatus.MISSED).exists()


@pytest.mark.django_db
def test_a_run_past_its_maximum_run_time_is_flagged_stuck_once_and_left_running(ns):
    job = scheduled(ns, "export", max_runtime_seconds=600)
    run = factories.execution(job, "r-1", status="running", started_at=T0)
    run_check(T0 + timedelta(minutes=5))
    assert not Notice.objects.filter(kind="stuck").exists()
    assert run_check(T0 + timedelta(minutes=11)).stuck == 1
    assert run_check(T0 + timedelta(minutes=12)).stuck == 0
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING  # flagged, not rewritten
    Execution.objects.filter(pk=run.pk).update(status="succeeded")
    resolve_notices(T0 + timedelta(minutes=13))
    assert Notice.objects.get(kind="stuck").resolved_at is not None


@pytest.mark.django_db
def test_a_scheduled_job_without_state_is_watched_from_the_first_check(ns):
    job = factories.job(ns, "legacy", schedule="0 * * * *")
    assert ensure_states(T0) == 1
    assert ScheduleState.objects.get(job=job).checked_until == T0
    assert missed_execution_id(datetime(2026, 1, 1, 2, tzinfo=UTC)) == "missed-20260101T020000Z"


@pytest.mark.django_db
def test_the_schedule_api_lists_next_and_recent_ticks_and_missed_runs_filter_by_status(api, outsider_api, ns):
    from datetime import datetime as dt

    now = dt.now(UTC).replace(second=0, microsecond=0)
    job = factories.job(ns, "every-five", schedule="*/5 * * * *", grace_seconds=60)
    sync_state(job, now - timedelta(minutes=21), reset=True)
    run_check(dt.now(UTC))
    body = api.get("/api/v1/jobs/payments/every-five/schedule").json()
    assert body["description"] == "Every 5 minutes (UTC)"
    assert len(body["next"]) == 5
    assert len(body["recent"]) == 20
    decided = [t for t in body["recent"] if t["execution_id"]]
    assert decided
    assert {t["outcome"] for t in decided} == {"missed"}
    missed = api.get("/api/v1/executions", {"status": "missed", "job": "every-five"}).json()["results"]
    assert {e["execution_id"] for e in missed} == {t["execution_id"] for t in decided}
    assert outsider_api.get("/api/v1/jobs/payments/every-five/schedule").status_code == 404
    assert outsider_api.get("/api/v1/executions", {"status": "missed"}).json()["results"] == []
    factories.job(ns, "adhoc")
    assert api.get("/api/v1/jobs/payments/adhoc/schedule").status_code == 404


@pytest.mark.django_db
def test_the_overview_counts_missed_late_and_stuck_and_failing_now_includes_a_missed_job(client, ns, other_ns):
    from datetime import datetime as dt

    now = dt.now(UTC)
    job = factories.job(ns, "every-five", schedule="*/5 * * * *", grace_seconds=60)
    sync_state(job, now - timedelta(minutes=11), reset=True)
    theirs = factories.job(other_ns, "theirs", schedule="*/5 * * * *", grace_seconds=60)
    sync_state(theirs, now - timedelta(minutes=11), reset=True)
    slow = factories.job(ns, "slow", max_runtime_seconds=60)
    factories.execution(slow, "s-1", status="running", started_at=now - timedelta(minutes=5))
    run_check(now)
    missed = Execution.objects.filter(job=job, status=RunStatus.MISSED).count()
    assert missed >= 2
    client.force_login(factories.user(ns, "viewer", username="viewer"))
    page = client.get("/").content.decode()
    assert f'id="missed-now">{missed} missed' in page  # the outsider namespace's missed ticks are not counted
    assert 'id="stuck-now">1 stuck' in page
    assert 'id="failing-now" href="/?status=failing">1 failing now' in page
    failing = client.get("/?status=failing").content.decode()
    assert "every-five" in failing
    assert "theirs" not in failing


@pytest.mark.django_db
def test_a_missed_runs_page_says_missed_and_an_outsider_gets_404(client, ns, other_ns):
    job = scheduled(ns)
    run_check(T0 + timedelta(minutes=6))
    (missed,) = Execution.objects.filter(job=job)
    url = f"/jobs/payments/every-five/runs/{missed.execution_id}/"
    client.force_login(factories.user(ns, "viewer", username="viewer"))
    page = client.get(url)
    assert page.status_code == 200
    assert "Missed" in page.content.decode()
    assert "No run started" in page.content.decode()
    client.force_login(factories.user(other_ns, "admin", username="outsider"))
    assert client.get(url).status_code == 404
