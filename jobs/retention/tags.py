"""The retention feature's template tag, included by the job page.

`{% namespace_retention job %}` renders how long the job's namespace keeps spans and records, and for the
namespace's admins a small form posting to /jobs/<ns>/retention.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.template.loader import render_to_string

from console import links
from jobs.retention.queries import is_admin

register = template.Library()

OUTCOMES = {
    "saved": "Saved. The next run of manage.py prune applies it.",
    "invalid-span_days": "Not changed: spans are kept 1 to 3650 days, and no longer than records.",
    "invalid-record_days": "Not changed: records are kept 1 to 3650 days.",
}


@register.simple_tag(takes_context=True)
def namespace_retention(context: dict[str, Any], job: Any) -> str:
    request = context.get("request")
    if request is None or job is None:
        return ""
    namespace = job.namespace
    outcome = request.GET.get("retention", "")
    return render_to_string(
        "jobs/retention/_retention.html",
        {
            "job": job,
            "namespace": namespace,
            "span_days": namespace.span_retention,
            "record_days": namespace.record_retention,
            "is_default": namespace.span_retention_days is None and namespace.record_retention_days is None,
            "defaults": (settings.JOBTRACE_SPAN_RETENTION_DAYS, settings.JOBTRACE_RECORD_RETENTION_DAYS),
            "can_edit": is_admin(request, namespace),
            "action": links.retention_url(namespace.name),
            "outcome": outcome,
            "outcome_message": OUTCOMES.get(outcome, ""),
        },
        request=request,
    )
