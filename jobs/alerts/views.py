"""Alert pages: /alerts/ (newest first, filter by status) and /alerts/<id>/ with the executions it links to."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from console import links as urls
from jobs.alerts.choices import AlertStatus
from jobs.alerts.linking import label_roles
from jobs.alerts.models import Alert, AlertLink
from jobs.alerts.queries import with_links
from jobs.auth import Access

PAGE_SIZE = 50


@login_required
def alert_list(request: HttpRequest) -> HttpResponse:
    access = Access.of(request)
    alerts = (
        Alert.objects.in_namespaces(access.readable)
        .select_related("namespace")
        .annotate(execution_count=Count("links"))
        .order_by("-starts_at", "-id")
    )
    status = request.GET.get("status", "")
    if status in AlertStatus.values:
        alerts = alerts.filter(status=status)
    else:
        status = ""
    page = Paginator(alerts, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "jobs/alerts/list.html",
        {"page": page, "alerts": page.object_list, "status": status, "statuses": AlertStatus.choices},
    )


@login_required
def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access = Access.of(request)
    alert = get_object_or_404(
        with_links(Alert.objects.in_namespaces(access.readable).select_related("namespace")), pk=pk
    )
    linked = list(alert.links.all())
    return render(
        request,
        "jobs/alerts/detail.html",
        {"alert": alert, "links": linked, "labels": label_rows(alert, linked)},
    )


def label_rows(alert: Alert, linked: list[AlertLink]) -> list[dict[str, str]]:
    """The alert's labels as table rows, sorted, a label that names a job, run, shard or trace linking to its page
    (a run or shard only when the alert is linked to it, so no link leads to a 404)."""
    roles = label_roles()
    ns = alert.namespace.name
    runs = {link.execution.execution_id: link for link in linked}
    shards = {link.shard.shard_id: link for link in linked if link.shard is not None}
    rows = []
    for key, value in sorted((alert.labels or {}).items()):
        text = str(value)
        role = roles.get(key, "")
        url = ""
        if role == "job" and any(link.execution.job.name == text for link in linked):
            url = urls.job_url(ns, text)
        elif role == "execution_id" and text in runs:
            url = urls.execution_url_of(runs[text].execution)
        elif role == "shard_id" and text in shards:
            execution = shards[text].execution
            url = urls.shard_url(ns, execution.job.name, execution.execution_id, text)
        elif role == "trace_id":
            from console.lookup import normalise_trace_id

            trace_id = normalise_trace_id(text)
            url = urls.trace_url(trace_id) if trace_id else ""
        rows.append({"key": key, "value": text, "url": url, "role": role})
    return rows
