"""`{% execution_alerts execution %}`: the alerts linked to an execution, for the execution page."""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from console import links
from jobs.alerts.models import Alert, AlertLink
from jobs.auth import Access

register = template.Library()


@register.simple_tag(takes_context=True)
def execution_alerts(context: dict[str, Any], execution: Any) -> SafeString:
    """Renders jobs/alerts/_execution_alerts.html (one query), scoped to what the viewer may read."""
    request = context.get("request")
    readable = Access.of(request).readable if request is not None else frozenset({execution.namespace_id})
    alerts = list(
        Alert.objects.in_namespaces(readable)
        .filter(links__execution=execution)
        .order_by("-starts_at", "-id")
        .values(
            "pk", "name", "fingerprint", "status", "starts_at", "ends_at", "links__reason", "links__shard__shard_id"
        )
    )
    return render_to_string("jobs/alerts/_execution_alerts.html", {"alerts": alerts, "execution": execution})


@register.filter
def alert_page_url(alert_pk: int) -> str:
    return links.alert_url(alert_pk)


@register.filter
def link_execution_url(link: AlertLink) -> str:
    """Console URL of an AlertLink's execution (execution, job and namespace loaded)."""
    return links.execution_url_of(link.execution)


@register.filter
def link_job_url(link: AlertLink) -> str:
    job = link.execution.job
    return links.job_url(job.namespace.name, job.name)


@register.filter
def link_shard_url(link: AlertLink) -> str:
    if link.shard is None:
        return ""
    job = link.execution.job
    return links.shard_url(job.namespace.name, job.name, link.execution.execution_id, link.shard.shard_id)
