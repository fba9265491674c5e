"""The schedule feature's template tag, included by the job page.

`{% job_conditions entries as totals %}` (the overview): the monitor's missed / late / stuck counts per job and in
all. `{% job_schedule job %}` renders the job's declared schedule: in words, as written, its time zone, grace and
maximum run time, the next expected runs in the job's own time zone, and a strip of the last ticks (on time, late,
missed, failed, ...), each linking to its run; a missed tick links to the last successful run and its trace.
Nothing for a job without a schedule. Three queries for a scheduled job (jobs/schedules/queries.py), none otherwise.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils import timezone

from console import links
from jobs.schedules.queries import Conditions, condition_counts, schedule_view

register = template.Library()

OUTCOME_WORDS = {
    "on_time": "ran on time",
    "late": "started late",
    "missed": "missed",
    "failed": "failed",
    "running": "running",
    "stuck": "stuck (past its maximum run time)",
    "pending": "due (within its grace)",
    "cancelled": "cancelled",
    "unwatched": "before the schedule was watched",
}


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
    view = schedule_view(job, timezone.now())
    if view is None:
        words, upcoming, strip = f"not understood: {job.schedule}", [], []
    else:
        zone = view.schedule.zone
        words = view.words
        # Formatted here: the template's date filter would move them into the viewer's zone.
        upcoming = [(t.isoformat(), t.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")) for t in view.upcoming]
        success = view.last_success
        success_url = links.execution_url(job.namespace.name, job.name, success.execution_id) if success else ""
        strip = []
        for t in view.recent:
            label = f"{t.tick.astimezone(zone):%Y-%m-%d %H:%M %Z}: {OUTCOME_WORDS[t.outcome]}"
            url = view.run_url(t.run) if t.run else ""
            if t.outcome == "unwatched":
                url = ""
            elif t.outcome == "missed" and success is not None:  # what there is to look at: the last good run
                label += f"; last successful run #{success.execution_id}"
                url = success_url
            strip.append({"outcome": t.outcome, "label": label, "url": url})
    return render_to_string(
        "jobs/schedules/_schedule.html",
        {
            "job": job,
            "words": words,
            "upcoming": upcoming,
            "strip": strip,
            "last_success": view.last_success if view else None,
            "last_success_url": success_url if view and view.last_success else "",
            "last_success_trace": links.trace_url(view.last_success.trace_id)
            if view and view.last_success and view.last_success.trace_id
            else "",
            "has_missed": any(s["outcome"] == "missed" for s in strip),
            "grace": seconds_in_words(job.grace_seconds),
            "max_runtime": seconds_in_words(job.max_runtime_seconds),
        },
        request=context.get("request"),
    )


@register.simple_tag
def job_conditions(entries: list[dict[str, Any]]) -> Conditions:
    """The overview's missed / late / stuck counts: each entry (a dict with "job") gets its own as entry["c"]; the
    totals are returned. One query for all the listed jobs."""
    totals = Conditions()
    if not entries:
        return totals
    counts = condition_counts([e["job"].pk for e in entries], timezone.now())
    for entry in entries:
        entry["c"] = counts.get(entry["job"].pk)
    for c in counts.values():
        totals.missed += c.missed
        totals.late += c.late
        totals.stuck += c.stuck
    return totals
