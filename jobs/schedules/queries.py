"""A job's schedule as the job page and GET /api/v1/jobs/<ns>/<job>/schedule show it: the next ticks, and the
recent ones with their outcome (three queries: the runs since the oldest tick, the last successful run, the
monitor's cursor)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from django.db.models import Q

from console import links
from jobs.choices import RunStatus
from jobs.models import Execution, Job
from jobs.schedules.check import EARLY, Run, TickOutcome, outcomes
from jobs.schedules.ticks import Schedule, describe, parse_schedule, ticks_after, ticks_before

RECENT_TICKS = 20


@dataclass(frozen=True)
class ScheduleView:
    job: Job
    schedule: Schedule
    words: str
    upcoming: list[datetime]
    recent: list[TickOutcome]  # oldest first
    last_success: Execution | None

    def run_url(self, run: Run) -> str:
        return links.execution_url(self.job.namespace.name, self.job.name, run.execution_id)

    def as_dict(self) -> dict[str, Any]:
        ns, name = self.job.namespace.name, self.job.name
        success = self.last_success
        return {
            "namespace": ns,
            "job": name,
            "schedule": self.schedule.expression,
            "timezone": self.schedule.timezone,
            "description": self.words,
            "grace_seconds": self.job.grace_seconds,
            "max_runtime_seconds": self.job.max_runtime_seconds,
            "next": [_iso(t) for t in self.upcoming],
            "recent": [
                {
                    "tick": _iso(t.tick),
                    "outcome": t.outcome,
                    "execution_id": t.run.execution_id if t.run else None,
                    "url": self.run_url(t.run) if t.run else None,
                }
                for t in reversed(self.recent)  # newest first
            ],
            "last_success": None
            if success is None
            else {
                "execution_id": success.execution_id,
                "started_at": _iso(success.started_at) if success.started_at else None,
                "url": links.execution_url(ns, name, success.execution_id),
                "trace_url": links.trace_url(success.trace_id) if success.trace_id else None,
            },
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def schedule_view(job: Job, now: datetime, *, recent: int = RECENT_TICKS, upcoming: int = 5) -> ScheduleView | None:
    """None when the job has no (valid) schedule."""
    if not job.schedule:
        return None
    try:
        schedule = parse_schedule(job.schedule, job.timezone)
    except ValueError:
        return None
    grace = timedelta(seconds=job.grace_seconds)
    max_runtime = timedelta(seconds=job.max_runtime_seconds) if job.max_runtime_seconds else None
    runs_qs = Execution.objects.filter(job=job)
    anchor = None
    if schedule.interval is not None:
        latest = runs_qs.order_by("-started_at").values_list("scheduled_at", "started_at").first()
        anchor = (latest[0] or latest[1]) if latest else None
    ticks = ticks_before(schedule, now, recent, anchor=anchor)
    following = next(ticks_after(schedule, now, anchor=anchor))
    since = (ticks[0] if ticks else now) - EARLY
    rows = runs_qs.filter(Q(scheduled_at__gte=since) | Q(started_at__gte=since)).values_list(
        "job_id", "execution_id", "status", "scheduled_at", "started_at"
    )
    runs = [Run(*row) for row in rows]
    last_success = runs_qs.filter(status=RunStatus.SUCCEEDED).order_by("-started_at").first()
    from jobs.schedules.models import ScheduleState

    decided_until = ScheduleState.objects.filter(job=job).values_list("checked_until", flat=True).first()
    return ScheduleView(
        job=job,
        schedule=schedule,
        words=describe(schedule),
        upcoming=list(islice(ticks_after(schedule, now, anchor=anchor), upcoming)),
        recent=outcomes(ticks, following, grace, max_runtime, runs, now, decided_until),
        last_success=last_success,
    )


@dataclass
class Conditions:
    """What the monitor found for one job: missed ticks and stuck runs still open, late runs of the last 24 h."""

    missed: int = 0
    late: int = 0
    stuck: int = 0


def condition_counts(job_ids: list[int], now: datetime) -> dict[int, Conditions]:
    """Per job, in one query (the overview's)."""
    from django.db.models import Count

    from jobs.schedules.models import Notice, NoticeKind

    rows = (
        Notice.objects.filter(job_id__in=job_ids)
        .filter(
            Q(kind__in=[NoticeKind.MISSED, NoticeKind.STUCK], resolved_at__isnull=True)
            | Q(kind=NoticeKind.LATE, opened_at__gte=now - timedelta(days=1))
        )
        .values("job_id", "kind")
        .annotate(n=Count("id"))
        .values_list("job_id", "kind", "n")
    )
    out: dict[int, Conditions] = {}
    for job_id, kind, n in rows:
        setattr(out.setdefault(job_id, Conditions()), kind, n)
    return out
