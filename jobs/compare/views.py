"""Pages comparing runs of a job: two runs side by side (`/jobs/<ns>/<job>/runs/<a>/compare/<b>/`) and one shard id
across the job's runs (`/jobs/<ns>/<job>/shards/<shard_id>/`). Thin: scope, ask jobs/compare/queries.py, render."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from console import links
from jobs.auth import Access
from jobs.choices import FAILURE_STATUSES
from jobs.compare import queries
from jobs.models import Execution, Job
from traces.compare import Operation

OPERATIONS_SHOWN = 50  # rows of the operations table (by impact); the rest are counted


def runs_or_404(request: HttpRequest, namespace: str, job: str, a: str, b: str) -> tuple[Execution, Execution]:
    """Both runs, scoped to the caller's namespaces (one query); either one missing or foreign is a 404."""
    executions = (
        Execution.objects.in_namespaces(Access.of(request).readable)
        .filter(job__namespace__name=namespace, job__name=job, execution_id__in=[a, b])
        .select_related("job__namespace")
    )
    found = {e.execution_id: e for e in executions}
    if a not in found or b not in found:
        raise Http404("no such run")
    return found[a], found[b]


@login_required
@require_GET
def run_compare(request: HttpRequest, namespace: str, job: str, a: str, b: str) -> HttpResponse:
    run_a, run_b = runs_or_404(request, namespace, job, a, b)
    result = queries.compare_runs(run_a, run_b)
    the_job = run_a.job
    ns_name = the_job.namespace.name
    return render(
        request,
        "jobs/compare/compare.html",
        {
            "job": the_job,
            "job_url": links.job_url(ns_name, the_job.name),
            "result": result,
            "cmp": result.traces,
            "rows": _rows(result.traces.operations[:OPERATIONS_SHOWN], result.trace_a, result.trace_b),
            "only_a": _rows(result.traces.only_in_a[:OPERATIONS_SHOWN], result.trace_a, result.trace_b),
            "only_b": _rows(result.traces.only_in_b[:OPERATIONS_SHOWN], result.trace_a, result.trace_b),
            "errors": _rows(result.traces.error_changes[:OPERATIONS_SHOWN], result.trace_a, result.trace_b),
            "failing_only_a": [(s, links.shard_url(ns_name, the_job.name, a, s)) for s in result.failing_only_in_a],
            "failing_only_b": [(s, links.shard_url(ns_name, the_job.name, b, s)) for s in result.failing_only_in_b],
            "more": max(len(result.traces.operations) - OPERATIONS_SHOWN, 0),
            "a_url": links.execution_url_of(run_a),
            "b_url": links.execution_url_of(run_b),
            "trace_a_url": links.trace_url(result.trace_a) if result.trace_a else "",
            "trace_b_url": links.trace_url(result.trace_b) if result.trace_b else "",
            "swap_url": links.run_compare_url(ns_name, the_job.name, b, a),
            "trace_compare_url": links.trace_compare_url(result.trace_a, result.trace_b)
            if result.trace_a and result.trace_b
            else "",
        },
    )


def _rows(ops: list[Operation], trace_a: str, trace_b: str) -> list[dict[str, Any]]:
    """Operations with both sides' span links (`?span=` on each run's trace)."""
    return [
        {
            "op": op,
            "a_url": links.trace_url(trace_a, op.span_a) if trace_a and op.span_a else "",
            "b_url": links.trace_url(trace_b, op.span_b) if trace_b and op.span_b else "",
        }
        for op in ops
    ]


@login_required
@require_GET
def shard_runs(request: HttpRequest, namespace: str, job: str, shard_id: str) -> HttpResponse:
    the_job = get_object_or_404(
        Job.objects.in_namespaces(Access.of(request).readable).select_related("namespace").named(namespace, job)
    )
    history = queries.shard_history(the_job, shard_id)
    if not history:
        raise Http404("no run of this job has that shard")
    failed = sum(1 for h in history if h.shard.status in FAILURE_STATUSES)
    return render(
        request,
        "jobs/compare/shard_runs.html",
        {
            "job": the_job,
            "job_url": links.job_url(the_job.namespace.name, the_job.name),
            "shard_id": shard_id,
            "history": history,
            "failed": failed,
            "labels": sorted((history[0].shard.labels or {}).items()),
            "limit": queries.SHARD_HISTORY,
        },
    )
