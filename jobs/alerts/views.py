"""Alert pages: /alerts/ (newest first, filter by status) and /alerts/<id>/ with the executions it links to."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from jobs.alerts.choices import AlertStatus
from jobs.alerts.models import Alert
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
    return render(request, "jobs/alerts/detail.html", {"alert": alert, "links": alert.links.all()})
