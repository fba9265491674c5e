"""The schedule feature's template tag, included by the job page.

`{% job_schedule job %}` renders the job's declared schedule: in words, as written, its time zone, grace and
maximum run time, and the next expected runs in the job's own time zone. Nothing for a job without a schedule.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils import timezone

from jobs.schedules.ticks import InvalidSchedule, InvalidTimezone, describe, parse_schedule, ticks_after

register = template.Library()

NEXT_RUNS = 5


def seconds_in_words(seconds: int | None) -> str:
    if seconds is None:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@register.simple_tag(takes_context=True)
def job_schedule(context: dict[str, Any], job: Any) -> str:
    if job is None or not job.schedule:
        return ""
    try:
        schedule = parse_schedule(job.schedule, job.timezone)
    except (InvalidSchedule, InvalidTimezone) as exc:  # stored before validation existed
        words, upcoming = f"not understood: {exc}", []
    else:
        words = describe(schedule)
        ticks = ticks_after(schedule, timezone.now())
        # Formatted here: the template's date filter would move them into the viewer's zone.
        local = [next(ticks).astimezone(schedule.zone) for _ in range(NEXT_RUNS)]
        upcoming = [(t.isoformat(), t.strftime("%a %Y-%m-%d %H:%M %Z")) for t in local]
    return render_to_string(
        "jobs/schedules/_schedule.html",
        {
            "job": job,
            "words": words,
            "upcoming": upcoming,
            "grace": seconds_in_words(job.grace_seconds),
            "max_runtime": seconds_in_words(job.max_runtime_seconds),
        },
        request=context.get("request"),
    )
