"""Declaring a job (one upsert by (namespace, name) that writes only the fields given) and keeping the monitor's
state row of a scheduled job in step with its schedule."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from jobs.models import Job, Namespace
from jobs.schedules.ingest import Declaration
from jobs.schedules.models import ScheduleState
from jobs.schedules.ticks import InvalidSchedule, InvalidTimezone, parse_schedule, ticks_after


def declare_job(namespace: Namespace, name: str, declaration: Declaration) -> tuple[Job, bool]:
    """Create or update the job (INSERT ... ON CONFLICT DO UPDATE of the given fields); returns (job, created)."""
    now = timezone.now()
    with transaction.atomic():
        before = Job.objects.filter(namespace=namespace, name=name).values_list("schedule", "timezone").first()
        Job.objects.bulk_create(
            [Job(namespace=namespace, name=name, created_at=now, updated_at=now, **declaration.values)],
            update_conflicts=True,
            unique_fields=["namespace", "name"],
            update_fields=[*declaration.values, "updated_at"],
        )
        job = Job.objects.select_related("namespace").get(namespace=namespace, name=name)
        sync_state(job, now, reset=before is None or tuple(before) != (job.schedule, job.timezone))
    return job, before is None


def sync_state(job: Job, now: datetime, *, reset: bool) -> None:
    """The job's ScheduleState: none without a schedule; a new or changed schedule is watched from `now` (no tick
    before its declaration is missed); otherwise the cursor stays and only the next due time follows the grace."""
    if not job.schedule:
        ScheduleState.objects.filter(job=job).delete()
        return
    try:
        schedule = parse_schedule(job.schedule, job.timezone)
    except (InvalidSchedule, InvalidTimezone):
        return
    with transaction.atomic():
        state = ScheduleState.objects.select_for_update().filter(job=job).first()
        cursor = now if reset or state is None else state.checked_until
        due_at = next(ticks_after(schedule, cursor)) + timedelta(seconds=job.grace_seconds)
        ScheduleState.objects.update_or_create(
            job=job, defaults={"checked_until": cursor, "due_at": due_at, "updated_at": now}
        )
