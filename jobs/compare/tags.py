"""Run comparison on other features' pages.

- `{% run_against_usual execution %}` (execution page): this run's duration against the job's usual (the median of
  its previous successful runs), with links to compare it with the previous successful run and, when that one was
  itself unusual (a regression several nights old), with the newest run of the usual duration. One query.
- `{% usual_of_jobs entries as usual %}` then `{% slower_than_usual usual job %}` (jobs overview): a flag on a job
  whose last run is much slower than its usual. One query for the whole list.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import SafeString

from console import links
from jobs.compare import queries
from jobs.stats import format_ms

register = template.Library()


@register.simple_tag
def run_against_usual(execution: Any) -> str:
    if execution is None:
        return ""
    usual = queries.usual_of(execution)
    job = execution.job
    ns, name = job.namespace.name, job.name

    def compare_url(other: Any) -> str:
        return links.run_compare_url(ns, name, other.execution_id, execution.execution_id) if other else ""

    return render_to_string(
        "jobs/compare/_usual.html",
        {
            "usual": usual,
            "previous_url": compare_url(usual.previous),
            "usual_run_url": "" if usual.previous_is_usual else compare_url(usual.usual_run),
        },
    )


@register.simple_tag
def usual_of_jobs(entries: list[dict[str, Any]]) -> dict[int, queries.LastAgainstUsual]:
    return queries.last_against_usual(e["job"].pk for e in entries)


@register.simple_tag
def slower_than_usual(usual: dict[int, queries.LastAgainstUsual], job: Any) -> SafeString | str:
    figure = usual.get(job.pk) if usual else None
    if figure is None or not figure.slower:
        return ""
    return format_html(
        '<span class="tag slower-than-usual" title="last run {} against a usual {} (median of the previous '
        'successful runs)">{}\N{MULTIPLICATION SIGN} usual</span>',
        format_ms(figure.last_ms),
        format_ms(figure.usual_ms),
        f"{figure.ratio:.1f}",
    )
