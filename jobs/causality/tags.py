"""`{% causality_panel obj %}` (execution and shard pages), `{% propagation_health job %}` (job page) and
`{% trace_causality namespace_id trace_id %}` (trace page: the messages it published, their consumers, its
workflows)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from console import links
from jobs.causality.chains import caused, caused_by, human_duration
from jobs.causality.gaps import GAP_KINDS, find_gaps
from jobs.causality.gaps import propagation_health as health_of
from jobs.causality.published import trace_causality as causality_of_trace
from jobs.models import Execution, Shard

register = template.Library()
PANEL_HOPS = 25  # follow-ons listed in the side panel; the correlation page shows them all


def _with_job(execution: Execution) -> Execution:
    """The execution with job and namespace loaded (one query only when the page did not load them)."""
    cache = execution._state.fields_cache
    if "job" in cache and "namespace" in execution.job._state.fields_cache:
        return execution
    return Execution.objects.select_related("job__namespace").get(pk=execution.pk)


@register.simple_tag(takes_context=True)
def causality_panel(context: dict[str, Any], obj: Any) -> SafeString:
    """Caused by (upward chain), caused (follow-ons) and the propagation gaps found on an Execution or a Shard."""
    if isinstance(obj, Shard):
        execution = _with_job(obj.execution)
        obj.execution = execution
        shard: Shard | None = obj
    elif isinstance(obj, Execution):
        execution, shard = _with_job(obj), None
    else:
        return SafeString("")
    findings = find_gaps([execution])
    correlation_id = execution.correlation_id
    down = caused(shard or execution)
    return render_to_string(
        "jobs/causality/_panel.html",
        {
            "subject": "shard" if shard is not None else "execution",
            "up": caused_by(shard or execution),
            "down": down,
            "down_hops": down.hops[:PANEL_HOPS],
            "down_more": max(len(down.hops) - PANEL_HOPS, 0),
            "gaps": findings.of(execution, shard),
            "notes": findings.notes.get(execution.pk, []),
            "correlation_id": correlation_id,
            "correlation_url": links.correlation_url(correlation_id) if correlation_id else "",
        },
    )


@register.simple_tag(takes_context=True)
def propagation_health(context: dict[str, Any], job: Any) -> SafeString:
    """The job's propagation-health figure: the share of its newest executions whose context is complete."""
    health = health_of(job)
    return render_to_string(
        "jobs/causality/_health.html",
        {
            "health": health,
            "kinds": GAP_KINDS,
            "api_url": f"/api/v1{links.job_url(job.namespace.name, job.name)[:-1]}/propagation",
        },
    )


@register.simple_tag
def trace_causality(namespace_id: int, trace_id: str) -> SafeString:
    """The trace's workflows and the messages it published, with who consumed them (nothing when it has none)."""
    found = causality_of_trace(namespace_id, trace_id)
    if found.empty:
        return SafeString("")
    return render_to_string("jobs/causality/_trace.html", {"c": found})


@register.filter
def duration_text(value: timedelta | None) -> str:
    """A wait or delay as people read it: "40 min", "2 h 5 min", "12 s"."""
    return "" if value is None else human_duration(value)
