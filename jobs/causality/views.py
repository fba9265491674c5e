"""The correlation page: one workflow, every message, execution, shard and trace on one cause -> effect timeline."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from jobs.auth import Access
from jobs.causality.chains import LONG_WAIT
from jobs.causality.workflow import namespaces_with, workflow


@login_required
def correlation(request: HttpRequest, correlation_id: str) -> HttpResponse:
    """One workflow per readable namespace that knows the id; an id nobody readable knows is a 404."""
    namespaces = namespaces_with(correlation_id, Access.of(request).readable)
    flows = [wf for wf in (workflow(ns, correlation_id) for ns in namespaces) if not wf.empty]
    if not flows:
        raise Http404("No such workflow.")
    return render(
        request,
        "jobs/causality/correlation.html",
        {"correlation_id": correlation_id, "flows": flows, "long_wait_minutes": int(LONG_WAIT.total_seconds() // 60)},
    )
