"""The sampling feature's template tag, included by the job page.

`{% sampling_policy job %}` renders the job's sampling policy: the rate, and for editors/admins of the job's
namespace a small form posting to /jobs/<ns>/<job>/sampling.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string

from console import links
from jobs.auth import Access

register = template.Library()

OUTCOMES = {
    "saved": "Saved.",
    "invalid": "Not changed: the rate must be a number between 0 and 100 %.",
}


@register.simple_tag(takes_context=True)
def sampling_policy(context: dict[str, Any], job: Any) -> str:
    request = context.get("request")
    if request is None or job is None:
        return ""
    can_edit = job.namespace_id in Access.of(request).writable
    namespace = job.namespace.name
    return render_to_string(
        "jobs/_sampling.html",
        {
            "job": job,
            "rate": job.sample_rate,
            "percent": round(job.sample_rate * 100, 2),
            "can_edit": can_edit,
            "action": links.job_url(namespace, job.name) + "sampling",
            "updated_at": job.sampling_updated_at,
            "outcome": request.GET.get("sampling", ""),
            "outcome_message": OUTCOMES.get(request.GET.get("sampling", ""), ""),
        },
        request=request,
    )
