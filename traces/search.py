"""The trace search page (`/traces/`): B's TraceFilterSet over the per-trace summaries, sortable, paged past the
first JOBTRACE_SEARCH_LIMIT, with the pickers' stored services and operations, the scheduler mark, and the
duration-over-time scatter of the page's results. Its result rows are joined in traces/rows.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import BooleanField, ExpressionWrapper
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET

from console import links
from console.pages import blank_parameters, filled, is_fragment, query_url, url_without_blanks
from jobs.auth import Access
from traces.filtersets import TraceFilterSet, root_origin, scheduler_originated
from traces.models import Trace
from traces.queries import recent_operations, stored_services
from traces.rows import scatter, scatter_points, trace_result_rows
from traces.waterfall import format_ns

# --- trace search -------------------------------------------------------------------------------------------------


SEARCH_COLUMNS = (
    "trace_id",
    "root_service",
    "root_name",
    "start_ns",
    "duration_ns",
    "span_count",
    "error_count",
    "services",
    "job__name",
    "job__namespace__name",
    "execution_id",
    "execution__execution_id",
    "execution__job__name",
    "execution__job__namespace__name",
    "shard__shard_id",
    "shard__execution_id",
)


def _owner_values(row: dict[str, Any]) -> dict[str, str]:
    """_owner_links for a SEARCH_COLUMNS row."""
    out: dict[str, str] = {}
    job, ns_name = row["job__name"], row["job__namespace__name"]
    if job is None and row["execution_id"] is not None:
        job, ns_name = row["execution__job__name"], row["execution__job__namespace__name"]
    if job is None:
        return out
    out.update(job=links.job_url(ns_name, job), job_name=job, namespace=ns_name)
    eid = row["execution__execution_id"]
    if eid is not None:
        out.update(execution=links.execution_url(ns_name, job, eid), execution_id=eid)
        if row["shard__shard_id"] is not None and row["shard__execution_id"] == row["execution_id"]:
            sid = row["shard__shard_id"]
            out.update(shard=links.shard_url(ns_name, job, eid, sid), shard_id=sid)
    return out


SORTS = {
    "start": "start_ns",
    "duration": "duration_ns",
    "spans": "span_count",
    "errors": "error_count",
    "root": "root_service",
}
DEFAULT_SORT = "-start"


def _sort(raw: str) -> tuple[str, list[str]] | None:
    """`sort=duration` / `sort=-duration` -> (the canonical value, the ORDER BY); None when not a column."""
    value = raw.strip() or DEFAULT_SORT
    column = SORTS.get(value.lstrip("-"))
    if column is None or value.count("-") > 1:
        return None
    direction = "-" if value.startswith("-") else ""
    tie = "-start_ns" if column != "start_ns" else "-id"
    return value, [f"{direction}{column}", tie, "-id"]


def _page_number(raw: str) -> int | None:
    value = raw.strip() or "1"
    return int(value) if value.isdigit() and 0 < int(value) <= 10_000 else None


@login_required
@require_GET
def trace_search(request: HttpRequest) -> HttpResponse:
    if not is_fragment(request) and blank_parameters(request.GET):
        return HttpResponseRedirect(url_without_blanks(request))  # shareable URLs carry no `job=&shard=`
    access = Access.of(request)
    data = filled(request.GET)
    attr = data.get("attr", "")
    if attr and ":" not in attr.partition("=")[0] and "=" in attr:
        data["attr"] = attr.replace("=", ":", 1)  # the page also takes key=value
    filterset = TraceFilterSet(data, queryset=Trace.objects.in_namespaces(access.readable), request=request)
    limit = settings.JOBTRACE_SEARCH_LIMIT
    errors = dict(filterset.errors) if not filterset.is_valid() else {}
    sort = _sort(data.get("sort", ""))
    page = _page_number(data.get("page", ""))
    if sort is None:
        errors["sort"] = [f"sort by one of {', '.join(SORTS)} (a leading - sorts descending)"]
    if page is None:
        errors["page"] = ["a page number from 1 to 10000"]
    results: list[dict[str, Any]] = []
    more = False
    if errors:
        status = 200 if is_fragment(request) else 400  # htmx does not swap 4xx answers
    else:
        assert sort is not None
        assert page is not None
        status = 200
        offset = (page - 1) * limit
        # Plain values, not model instances: 200 rows with their owners cost a third of the time this way. The
        # scheduler mark is the trace's owner, else one probe of its root span, for the page's rows only.
        found = list(
            filterset.qs.annotate(_root_origin=root_origin())
            .annotate(scheduler=ExpressionWrapper(scheduler_originated(), output_field=BooleanField()))
            .order_by(*sort[1])
            .values(*SEARCH_COLUMNS, "scheduler")[offset : offset + limit + 1]
        )
        more = len(found) > limit
        for row in found[:limit]:
            t = SimpleNamespace(**row)
            results.append(
                {
                    "t": t,
                    "url": links.trace_url(t.trace_id),
                    "owner": _owner_values(row),
                    "started": datetime.fromtimestamp(t.start_ns / 1e9, tz=UTC),
                }
            )
    chart = scatter(
        [
            (
                r["t"].start_ns,
                r["t"].duration_ns,
                bool(r["t"].error_count),
                bool(r["t"].scheduler),
                r["url"],
                f"{r['started']:%H:%M:%S} {r['t'].root_service}: {r['t'].root_name[:60]} "
                f"({format_ns(r['t'].duration_ns)})",
            )
            for r in results
        ]
    )
    number = page or 1
    context = {
        "q": data,
        "errors": errors,
        "results": results,
        "results_html": trace_result_rows(results),
        "chart": chart,
        "chart_points": scatter_points(chart) if chart else "",
        "sort": sort[0] if sort else DEFAULT_SORT,
        "columns": _column_links(request, sort[0] if sort else DEFAULT_SORT),
        "page_number": number,
        "first_shown": (number - 1) * limit + 1,
        "last_shown": (number - 1) * limit + len(results),
        "previous_url": query_url(request, page=number - 1 if number > 2 else None) if number > 1 else "",
        "next_url": query_url(request, page=number + 1) if more else "",
        "more": more,
        "limit": limit,
    }
    if is_fragment(request):
        return render(request, "traces/_results.html", context, status=status)
    readable = sorted(access.readable)
    context["services"] = stored_services(readable)
    context["operations"] = recent_operations(readable)
    return render(request, "traces/search.html", context, status=status)


_COLUMNS = [
    ("start", "Started (UTC)", False),
    ("root", "Root", False),
    ("", "Services", False),
    ("spans", "Spans", True),
    ("errors", "Errors", True),
    ("duration", "Duration", True),
    ("", "Job / execution / shard", False),
]


def _column_links(request: HttpRequest, current: str) -> list[dict[str, Any]]:
    """Each result column's header: a link that sorts by it (descending first; again: ascending)."""
    out = []
    for key, title, numeric in _COLUMNS:
        if not key:
            out.append({"title": title, "url": "", "numeric": numeric, "arrow": ""})
            continue
        arrow = "▼" if current == f"-{key}" else ("▲" if current == key else "")
        target = key if current == f"-{key}" else f"-{key}"
        out.append(
            {
                "title": title,
                "url": query_url(request, sort=None if target == DEFAULT_SORT else target, page=None),
                "numeric": numeric,
                "arrow": arrow,
                "sort": target,
            }
        )
    return out
