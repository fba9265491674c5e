"""Pages of the drill-down: jobs overview → job → execution → shard (with its call chain).

Views are thin: they scope every query to the caller's namespaces (`Access.of(request).readable`), fetch what the
page shows in a fixed number of queries, and hand plain values to the templates. Outsiders get 404.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Count, OuterRef, Subquery
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from console import links
from console.pages import filled, is_fragment
from jobs.auth import Access
from jobs.choices import FAILURE_STATUSES, STATUS_ATTENTION_ORDER, RunStatus, Trigger
from jobs.filtersets import ExecutionFilterSet, JobFilterSet, LabelField, ShardFilterSet
from jobs.models import Execution, Job, Namespace, Shard
from jobs.rows import shard_rows as rows_of_shards
from jobs.stats import duration_chart, job_figures
from traces import waterfall as wf_mod
from traces.models import Span, Trace
from traces.queries import execution_traces

OVERVIEW_LIMIT = 500
EXECUTIONS_PER_PAGE = 50
SHARDS_PER_PAGE = 100
CHART_RUNS = 60
SHARD_SPAN_LIMIT = 20_000


def _page(paginator: Paginator, number: str | None) -> Page:
    return paginator.get_page(number)


# --- jobs overview ------------------------------------------------------------------------------------------------


LAST_STATUS_CHOICES = [("failing", "failing now"), *RunStatus.choices]


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    access = Access.of(request)
    scoped = Job.objects.in_namespaces(access.readable).select_related("namespace")
    filterset = JobFilterSet(request.GET, queryset=scoped)
    jobs = filterset.qs if filterset.is_valid() else scoped
    last = Execution.objects.filter(job=OuterRef("pk")).order_by("-started_at", "-id")
    jobs = jobs.annotate(last_status=Subquery(last.values("status")[:1]))
    last_status = request.GET.get("status", "")
    if last_status == "failing":
        jobs = jobs.filter(last_status__in=FAILURE_STATUSES)
    elif last_status in RunStatus.values:
        jobs = jobs.filter(last_status=last_status)
    job_list = list(jobs.order_by("namespace__name", "name")[: OVERVIEW_LIMIT + 1])
    cut = len(job_list) > OVERVIEW_LIMIT
    job_list = job_list[:OVERVIEW_LIMIT]

    now = timezone.now()
    per_job: dict[int, list[tuple[str, Any, int | None]]] = defaultdict(list)
    if job_list:
        # Every run of the listed jobs over 7 days in ONE query; the figures are computed in Python.
        rows = (
            Execution.objects.filter(job_id__in=[j.pk for j in job_list], started_at__gte=now - timedelta(days=7))
            .order_by("job_id", "-started_at", "-id")
            .values_list("job_id", "status", "started_at", "duration_ms")
        )
        for job_id, status, started_at, duration_ms in rows:
            per_job[job_id].append((status, started_at, duration_ms))
    entries = []
    for job in job_list:
        figures = job_figures(per_job.get(job.pk, []), now)
        if figures.last_status is None:
            figures.last_status = job.last_status
        entries.append({"job": job, "url": links.job_url(job.namespace.name, job.name), "f": figures})
    namespaces = list(Namespace.objects.filter(id__in=access.readable).order_by("name").values_list("name", flat=True))
    return render(
        request,
        "jobs/overview.html",
        {
            "entries": entries,
            "cut": cut,
            "limit": OVERVIEW_LIMIT,
            "filters": {
                "namespace": request.GET.get("namespace", ""),
                "q": request.GET.get("q", ""),
                "status": last_status,
            },
            "errors": filterset.errors,
            "namespaces": namespaces,
            "statuses": LAST_STATUS_CHOICES,
            "failing_count": sum(1 for e in entries if e["f"].failing_now),
            "failing_url": links.overview_url(
                namespace=request.GET.get("namespace", ""), q=request.GET.get("q", ""), status="failing"
            ),
            "running_count": sum(e["f"].running for e in entries),
        },
    )


# --- job ----------------------------------------------------------------------------------------------------------


def _with_failing(params: QueryDict) -> QueryDict:
    """`status=failing` is the page's shorthand for the failure statuses (the filtersets take several values)."""
    data = filled(params)
    statuses = data.getlist("status")
    if "failing" in statuses:
        data.setlist("status", [s for s in statuses if s != "failing"] + [str(s) for s in FAILURE_STATUSES])
    return data


def _job_or_404(request: HttpRequest, namespace: str, job: str) -> Job:
    access = Access.of(request)
    return get_object_or_404(
        Job.objects.in_namespaces(access.readable).select_related("namespace").named(namespace, job)
    )


def _shard_counts(execution_ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = defaultdict(lambda: {"total": 0, "failed": 0, "succeeded": 0})
    if not execution_ids:
        return counts
    rows = (
        Shard.objects.filter(execution_id__in=execution_ids)
        .order_by()
        .values_list("execution_id", "status")
        .annotate(n=Count("id"))
    )
    for execution_id, status, n in rows:
        c = counts[execution_id]
        c["total"] += n
        if status in FAILURE_STATUSES:
            c["failed"] += n
        elif status == RunStatus.SUCCEEDED:
            c["succeeded"] += n
    return counts


@login_required
@require_GET
def job_detail(request: HttpRequest, namespace: str, job: str) -> HttpResponse:
    the_job = _job_or_404(request, namespace, job)
    filterset = ExecutionFilterSet(_with_failing(request.GET), queryset=Execution.objects.filter(job=the_job))
    valid = filterset.is_valid()
    executions = (filterset.qs if valid else Execution.objects.none()).order_by("-started_at", "-id")
    page = _page(Paginator(executions, EXECUTIONS_PER_PAGE), request.GET.get("page"))
    runs = list(page.object_list)
    counts = _shard_counts([e.pk for e in runs])
    ns_name, job_name = the_job.namespace.name, the_job.name
    rows = [
        {
            "e": e,
            "url": links.execution_url(ns_name, job_name, e.execution_id),
            "trace_url": links.trace_url(e.trace_id) if e.trace_id else "",
            "shards": counts.get(e.pk),
        }
        for e in runs
    ]
    recent = list(
        Execution.objects.filter(job=the_job)
        .order_by("-started_at", "-id")
        .values_list("status", "duration_ms", "execution_id", "started_at")[:CHART_RUNS]
    )
    recent.reverse()
    chart = duration_chart(
        [
            (
                status,
                duration_ms,
                f"#{eid} {started_at:%Y-%m-%d %H:%M} {status}" if started_at else f"#{eid} {status}",
                links.execution_url(ns_name, job_name, eid),
            )
            for status, duration_ms, eid, started_at in recent
        ]
    )
    template = "jobs/_executions.html" if is_fragment(request) else "jobs/job.html"
    return render(
        request,
        template,
        status=200 if valid or is_fragment(request) else 400,
        context={
            "job": the_job,
            "job_url": links.job_url(ns_name, job_name),
            "filters": {key: request.GET.get(key, "") for key in ("status", "trigger", "since", "until")},
            "errors": filterset.errors,
            "page": page,
            "rows": rows,
            "chart": chart,
            "statuses": RunStatus.choices,
            "triggers": Trigger.choices,
        },
    )


# --- execution ----------------------------------------------------------------------------------------------------


def _execution_or_404(request: HttpRequest, namespace: str, job: str, execution_id: str) -> Execution:
    access = Access.of(request)
    executions = Execution.objects.in_namespaces(access.readable).select_related("job__namespace")
    return get_object_or_404(executions.named(namespace, job, execution_id))


def label_param(raw: str) -> str:
    """The page accepts `account=1000002` as well as the API's `account:1000002`."""
    key, eq, value = raw.partition("=")
    if eq and ":" not in key:
        return f"{key.strip()}:{value.strip()}"
    return raw


@login_required
@require_GET
def execution_detail(request: HttpRequest, namespace: str, job: str, execution_id: str) -> HttpResponse:
    execution = _execution_or_404(request, namespace, job, execution_id)
    the_job = execution.job
    all_shards = Shard.objects.filter(execution=execution)
    counts = all_shards.status_counts()
    total = sum(counts.values())
    status = request.GET.get("status", "")
    label_raw = request.GET.get("label", "").strip()
    shard_q = request.GET.get("shard_id", "").strip()
    data = _with_failing(request.GET)
    data.pop("label", None)
    filterset = ShardFilterSet(data, queryset=all_shards)
    problems = [f"{field}: {' '.join(errs)}" for field, errs in filterset.errors.items()]
    shards = filterset.qs if not problems else all_shards.none()
    if label_raw:
        # Validated by the API's label field; matched with the JSON key lookup, which SQLite answers too.
        try:
            key, value = LabelField().clean(label_param(label_raw))
            shards = shards.with_label(key, value)
        except ValidationError as exc:
            problems.append(f"label: {' '.join(exc.messages)}")
            shards = all_shards.none()
    filtered = bool(label_raw) or any(data.get(key) for key in ShardFilterSet.base_filters)
    paginator = Paginator(shards.failing_first(), SHARDS_PER_PAGE)
    if not filtered:
        paginator.__dict__["count"] = total  # known from status_counts: spare the COUNT(*) over 10,000 rows
    page = _page(paginator, request.GET.get("page"))
    ns_name, job_name, eid = the_job.namespace.name, the_job.name, execution.execution_id
    shard_rows = [
        {
            "s": s,
            "url": links.shard_url(ns_name, job_name, eid, s.shard_id),
            "trace_url": links.trace_url(s.trace_id, s.span_id or None) if s.trace_id else "",
        }
        for s in page.object_list
    ]
    trace = None
    if execution.trace_id:
        trace = Trace.objects.filter(namespace_id=execution.namespace_id, trace_id=execution.trace_id).first()
    status_list = [
        {"status": s.value, "label": s.label, "n": counts.get(s.value, 0)}
        for s in STATUS_ATTENTION_ORDER
        if counts.get(s.value)
    ]
    context = {
        "execution": execution,
        "job": the_job,
        "job_url": links.job_url(ns_name, job_name),
        "execution_url": links.execution_url(ns_name, job_name, eid),
        "trace": trace,
        "trace_url": links.trace_url(execution.trace_id) if execution.trace_id else "",
        "message_url": links.message_url(execution.message_id, execution.correlation_id),
        "correlation_url": links.correlation_url(execution.correlation_id) if execution.correlation_id else "",
        "counts": status_list,
        "total": total,
        "failed_total": sum(counts.get(s, 0) for s in FAILURE_STATUSES),
        "page": page,
        "shard_rows": shard_rows,
        "shard_rows_html": rows_of_shards(shard_rows),
        "status": status,
        "label": label_raw,
        "shard_q": shard_q,
        "problems": problems,
        "statuses": RunStatus.choices,
    }
    if not is_fragment(request):
        context["linked"] = execution_traces(execution)
        context["traces_search_url"] = links.trace_search_url(job=f"{ns_name}/{job_name}", execution=eid)
    template = "jobs/_shards.html" if is_fragment(request) else "jobs/execution.html"
    # An htmx swap shows the error box in place (htmx does not swap 4xx answers).
    return render(request, template, context, status=400 if problems and not is_fragment(request) else 200)


# --- shard --------------------------------------------------------------------------------------------------------


def _shard_or_404(request: HttpRequest, namespace: str, job: str, execution_id: str, shard_id: str) -> Shard:
    access = Access.of(request)
    shards = Shard.objects.in_namespaces(access.readable).select_related("execution__job__namespace")
    return get_object_or_404(shards.named(namespace, job, execution_id, shard_id))


def shard_call_chain(shard: Shard) -> tuple[str, list[tuple], bool]:
    """(trace_id, span tuples, truncated) of the shard's call chain: its trace (or the subtree under its span_id),
    else the spans linked to it by attributes or links."""
    spans = Span.objects.filter(namespace_id=shard.namespace_id)
    if shard.trace_id:
        trace_id = shard.trace_id
        rows = list(spans.filter(trace_id=trace_id).values_list(*wf_mod.SPAN_COLUMNS)[:SHARD_SPAN_LIMIT])
    else:
        linked = list(spans.filter(shard=shard).values_list("trace_id", *wf_mod.SPAN_COLUMNS)[:SHARD_SPAN_LIMIT])
        if not linked:
            return "", [], False
        trace_id = linked[0][0]
        rows = [r[1:] for r in linked if r[0] == trace_id]
    truncated = len(rows) >= SHARD_SPAN_LIMIT
    if shard.span_id and any(r[0] == shard.span_id for r in rows):
        full = wf_mod.build(rows)
        keep = {full.rows[i].span_id for i in full.subtree(full.index_of[shard.span_id])}
        # The shard's span is the root of its call chain (its parent belongs to the execution, not an orphan).
        rows = [(r[0], "", *r[2:]) if r[0] == shard.span_id else r for r in rows if r[0] in keep]
    return trace_id, rows, truncated


@login_required
@require_GET
def shard_detail(request: HttpRequest, namespace: str, job: str, execution_id: str, shard_id: str) -> HttpResponse:
    from traces.views import span_detail_context

    shard = _shard_or_404(request, namespace, job, execution_id, shard_id)
    execution = shard.execution
    the_job = execution.job
    ns_name, job_name, eid = the_job.namespace.name, the_job.name, execution.execution_id
    trace_id, rows, truncated = shard_call_chain(shard)
    waterfall_html = ""
    failing = None
    wf = None
    if rows:
        wf = wf_mod.build(rows, truncated_at=SHARD_SPAN_LIMIT if truncated else None)
        failing_index = wf.failing_span()
        selected = wf.rows[failing_index].span_id if failing_index is not None else None
        opened = wf_mod.open_set(wf)
        visible = wf_mod.visible_rows(wf, opened)
        waterfall_html = wf_mod.render_rows(wf, visible, opened, trace_url=links.trace_url(trace_id), selected=selected)
        if selected:
            failing = span_detail_context(shard.namespace_id, trace_id, selected)
    parent = None
    if shard.parent_shard_id:
        parent = {"id": shard.parent_shard_id, "url": links.shard_url(ns_name, job_name, eid, shard.parent_shard_id)}
    return render(
        request,
        "jobs/shard.html",
        {
            "shard": shard,
            "execution": execution,
            "job": the_job,
            "job_url": links.job_url(ns_name, job_name),
            "execution_url": links.execution_url(ns_name, job_name, eid),
            "parent": parent,
            "trace_id": trace_id,
            "trace_url": links.trace_url(trace_id) if trace_id else "",
            "wf": wf,
            "waterfall_html": waterfall_html,
            "failing": failing,
            "rows_url": f"{links.trace_url(trace_id)}rows/" if trace_id else "",
            "span_url": f"{links.trace_url(trace_id)}spans/" if trace_id else "",
            "jaeger": bool(settings.JAEGER_QUERY_URL),
        },
    )
