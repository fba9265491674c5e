"""One check of the monitor against the database: read what is due, call the pure `check`, write what it found.

Each job's ticks are decided under a row lock on its ScheduleState (SELECT ... FOR UPDATE SKIP LOCKED): several
monitors (one per replica) share the work and never decide a tick twice; a record arriving for the same job waits
for that lock in its post-store step (`take_missed_places`), so a missed row is never written over a real run
and a late run always finds the missed row it replaces. Notices are unique per (execution, kind).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from jobs.choices import RunStatus, Trigger
from jobs.models import Execution, Job
from jobs.poststore import StoredRecords
from jobs.schedules.check import EARLY, Run, Watched, check, find_stuck, lateness
from jobs.schedules.models import Notice, NoticeKind, ScheduleState
from jobs.schedules.ticks import InvalidSchedule, InvalidTimezone, Schedule, parse_schedule

logger = logging.getLogger("jobtrace.monitor")

BATCH = 2000  # jobs decided per transaction


@dataclass
class Report:
    jobs_checked: int = 0
    missed: int = 0
    stuck: int = 0
    resolved: int = 0


def missed_execution_id(tick: datetime) -> str:
    return "missed-" + tick.strftime("%Y%m%dT%H%M%SZ")


def _schedule(job: Job) -> Schedule | None:
    try:
        return parse_schedule(job.schedule, job.timezone)
    except (InvalidSchedule, InvalidTimezone):
        return None


def ensure_states(now: datetime) -> int:
    """A state row for each scheduled job without one (declared before the monitor existed): watched from now."""
    from jobs.schedules.store import sync_state

    created = 0
    for job in Job.objects.exclude(schedule="").filter(schedule_state__isnull=True)[:BATCH]:
        with transaction.atomic():
            sync_state(job, now, reset=True)
        created += 1
    return created


def run_check(now: datetime | None = None) -> Report:
    now = now or timezone.now()
    report = Report()
    ensure_states(now)
    while True:
        decided = _decide_due(now, report)
        if decided < BATCH:
            break
    _flag_stuck(now, report)
    report.resolved = resolve_notices(now)
    return report


def _decide_due(now: datetime, report: Report) -> int:
    with transaction.atomic():
        states = list(
            ScheduleState.objects.filter(due_at__lte=now)
            .select_related("job")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("due_at")[:BATCH]
        )
        if not states:
            return 0
        jobs = {s.job_id: s.job for s in states}
        schedules = {job_id: _schedule(job) for job_id, job in jobs.items()}
        interval_ids = [j for j, s in schedules.items() if s is not None and s.interval is not None]
        anchors = dict(
            Execution.objects.filter(job_id__in=interval_ids)
            .values("job_id")
            .annotate(m=Max(Coalesce("scheduled_at", "started_at")))
            .values_list("job_id", "m")
        )
        since = min(s.checked_until for s in states) - EARLY
        runs = [
            Run(*row)
            for row in Execution.objects.filter(job_id__in=list(jobs))
            .filter(Q(scheduled_at__gte=since) | Q(started_at__gte=since))
            .exclude(status=RunStatus.MISSED)
            .values_list("job_id", "execution_id", "status", "scheduled_at", "started_at")
        ]
        watched = [
            Watched(
                job_id=s.job_id,
                schedule=schedules[s.job_id],  # type: ignore[arg-type]
                grace=timedelta(seconds=jobs[s.job_id].grace_seconds),
                max_runtime=None,  # stuck runs: _flag_stuck, for every job with a limit
                checked_until=s.checked_until,
                anchor=anchors.get(s.job_id),
            )
            for s in states
            if schedules[s.job_id] is not None
        ]
        result = check(watched, runs, now)
        if result.missed:
            _write_missed(jobs, result.missed, now)
        for state in states:
            if state.job_id in result.checked_until:
                state.checked_until = result.checked_until[state.job_id]
                state.due_at = result.due_at[state.job_id]
            else:  # a schedule that no longer parses: look again in an hour
                state.due_at = now + timedelta(hours=1)
            state.updated_at = now
        _move_cursors(states, now)
        report.jobs_checked += len(states)
        report.missed += len(result.missed)
        return len(states)


def _move_cursors(states: list[ScheduleState], now: datetime) -> None:
    """One UPDATE of every cursor (PostgreSQL: from unnest'ed arrays; Django's bulk_update builds a CASE per row,
    ~7 s for 10,000 rows); SQLite: bulk_update."""
    if connection.vendor != "postgresql":
        ScheduleState.objects.bulk_update(states, ["checked_until", "due_at", "updated_at"], batch_size=500)
        return
    table = ScheduleState._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS s SET checked_until = v.c, due_at = v.d, updated_at = %s "  # noqa: S608 (our table)
            "FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[]) AS v(job_id, c, d) "
            "WHERE s.job_id = v.job_id",
            [now, [s.job_id for s in states], [s.checked_until for s in states], [s.due_at for s in states]],
        )


def _write_missed(jobs: dict[int, Job], missed: Sequence, now: datetime) -> None:
    rows = [
        Execution(
            namespace_id=jobs[m.job_id].namespace_id,
            job_id=m.job_id,
            execution_id=missed_execution_id(m.tick),
            trigger=Trigger.SCHEDULED,
            status=RunStatus.MISSED,
            scheduled_at=m.tick,
            started_at=m.tick,  # when it should have started: lists and time filters place it at its tick
            error=f"No run started between the tick and the end of its grace ({m.decided_at:%Y-%m-%d %H:%M:%S}Z).",
            received_at=now,
            updated_at=now,
        )
        for m in missed
    ]
    Execution.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    ids = {(r.job_id, r.execution_id) for r in rows}
    stored = Execution.objects.filter(
        job_id__in={r.job_id for r in rows}, execution_id__in={r.execution_id for r in rows}
    ).values_list("id", "namespace_id", "job_id", "execution_id", "scheduled_at")
    Notice.objects.bulk_create(
        [
            Notice(
                namespace_id=ns_id,
                job_id=job_id,
                execution_id=pk,
                sent_execution_id=eid,
                kind=NoticeKind.MISSED,
                tick=tick,
                opened_at=now,
            )
            for pk, ns_id, job_id, eid, tick in stored
            if (job_id, eid) in ids
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )


def _flag_stuck(now: datetime, report: Report) -> None:
    limits = dict(Job.objects.filter(max_runtime_seconds__isnull=False).values_list("id", "max_runtime_seconds"))
    if not limits:
        return
    running = list(
        Execution.objects.filter(job_id__in=list(limits), status=RunStatus.RUNNING).values_list(
            "id", "namespace_id", "job_id", "execution_id", "status", "scheduled_at", "started_at"
        )
    )
    by_key = {(job_id, eid): (pk, ns) for pk, ns, job_id, eid, *_ in running}
    stuck = find_stuck({j: timedelta(seconds=s) for j, s in limits.items()}, [Run(*row[2:]) for row in running], now)
    flagged = set(
        Notice.objects.filter(kind=NoticeKind.STUCK, execution_id__in=[pk for pk, *_ in running]).values_list(
            "execution_id", flat=True
        )
    )
    stuck = [s for s in stuck if by_key[(s.job_id, s.execution_id)][0] not in flagged]
    if not stuck:
        return
    Notice.objects.bulk_create(
        [
            Notice(
                namespace_id=by_key[(s.job_id, s.execution_id)][1],
                job_id=s.job_id,
                execution_id=by_key[(s.job_id, s.execution_id)][0],
                sent_execution_id=s.execution_id,
                kind=NoticeKind.STUCK,
                tick=s.started_at,
                opened_at=now,
            )
            for s in stuck
        ],
        ignore_conflicts=True,  # flagged once: the unique (execution, kind) holds across monitors too
    )
    report.stuck += len(stuck)


def resolve_notices(now: datetime) -> int:
    """Open missed/stuck notices whose job has since succeeded (after the tick), or whose stuck run ended."""
    open_notices = list(
        Notice.objects.filter(resolved_at__isnull=True, kind__in=[NoticeKind.MISSED, NoticeKind.STUCK]).values_list(
            "id", "job_id", "kind", "tick", "execution__status", "execution__started_at"
        )
    )
    if not open_notices:
        return 0
    last_success = dict(
        Execution.objects.filter(job_id__in={n[1] for n in open_notices}, status=RunStatus.SUCCEEDED)
        .values("job_id")
        .annotate(m=Max("started_at"))
        .values_list("job_id", "m")
    )
    done = []
    for pk, job_id, kind, tick, status, started_at in open_notices:
        success = last_success.get(job_id)
        if (kind == NoticeKind.STUCK and status != RunStatus.RUNNING) or (
            success is not None
            and tick is not None
            and success >= tick - EARLY
            and (kind == NoticeKind.MISSED or (started_at is not None and success > started_at))
        ):
            done.append(pk)
    return Notice.objects.filter(pk__in=done, resolved_at__isnull=True).update(resolved_at=now)


# --- a record arrives: a late run takes the missed tick's place --------------------------------------------------


def take_missed_places(stored: StoredRecords) -> None:
    """Record post-store step: each stored run of a scheduled job replaces the missed row of its tick (alerts and
    notices move to it) and is noted late when it started after its tick's grace."""
    runs = [e for e in stored.executions if e.status != RunStatus.MISSED and not e.placeholder]
    if not runs:
        return
    job_ids = sorted({e.job_id for e in runs})
    # Serialise with the monitor deciding these jobs' ticks (its SKIP LOCKED leaves them to its next check).
    locked = set(
        ScheduleState.objects.select_for_update()
        .filter(job_id__in=job_ids)
        .order_by("job_id")
        .values_list("job_id", flat=True)
    )
    if not locked:
        return
    jobs = {j.pk: j for j in Job.objects.filter(pk__in=locked)}
    now = timezone.now()
    from jobs.alerts.models import AlertLink

    for run in runs:
        job = jobs.get(run.job_id)
        moment = run.scheduled_at or run.started_at
        schedule = _schedule(job) if job else None
        if job is None or schedule is None or moment is None:
            continue
        grace = timedelta(seconds=job.grace_seconds)
        if schedule.interval is not None:
            window = Q(scheduled_at__gt=moment - schedule.interval - grace, scheduled_at__lte=moment + EARLY)
            tick, late = None, None
        else:
            tick, late = lateness(schedule, grace, moment)
            window = Q(scheduled_at=tick)
        missed = Execution.objects.filter(job=job, status=RunStatus.MISSED).filter(window).order_by("-scheduled_at")
        replaced = missed.first()
        if replaced is not None:
            tick = replaced.scheduled_at
            late = moment - (tick + grace) if moment > tick + grace else timedelta(0)
            AlertLink.objects.filter(execution=replaced).exclude(alert__links__execution=run).update(execution=run)
            Notice.objects.filter(execution=replaced).update(execution=run)
            replaced.delete()
        if late:
            Notice.objects.bulk_create(
                [
                    Notice(
                        namespace_id=run.namespace_id,
                        job_id=run.job_id,
                        execution_id=run.pk,
                        sent_execution_id=run.execution_id,
                        kind=NoticeKind.LATE,
                        tick=tick,
                        opened_at=now,
                        resolved_at=now,  # counted, never sent
                        resolved_sent_at=now,
                    )
                ],
                ignore_conflicts=True,
            )


def set_statement_timeout(seconds: float) -> None:
    """The monitor's own bound on one statement (PostgreSQL); manage.py commands otherwise run without one."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = %s", [f"{int(seconds * 1000)}ms"])
