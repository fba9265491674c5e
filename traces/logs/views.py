"""The log search page `/logs/` (also the fragment the execution and shard pages' log panels load and poll).

Thin: the filter is read and resolved by traces/logs/queries.py within the reader's namespaces (another
namespace's job, execution or shard is a 404), one query reads the page; an htmx request gets the rows only.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from console.pages import is_fragment, query_url
from jobs.auth import Access
from traces.logs import queries
from traces.logs.rows import log_rows

PAGE_SIZE = 100


@login_required
@require_GET
def log_search(request: HttpRequest) -> HttpResponse:
    access = Access.of(request)
    error = ""
    rows: list = []
    errors: list = []
    next_url = ""
    f = queries.LogFilter()
    try:
        f = queries.LogFilter.from_params(request.GET)
        scope = queries.resolve(access.readable, f)
        qs = queries.records(scope, f)
        cursor = request.GET.get("cursor", "")
        result = queries.page(queries.records(scope, f, text=False), f.order, cursor, PAGE_SIZE, q=f.q)
        rows = log_rows(result.rows)
        if request.GET.get("errors_first") and not request.GET.get("cursor"):
            errors = log_rows(queries.error_lines(qs))
        if result.next_cursor:
            next_url = query_url(request, cursor=result.next_cursor)
    except queries.NotFound as exc:
        raise Http404(str(exc)) from None
    except ValueError as exc:
        error = str(exc)
    context = {
        "f": f,
        "rows": rows,
        "errors": errors,
        "error": error,
        "next_url": next_url,
        "severities": queries.SEVERITIES,
        "severity_name": next((k for k, v in queries.SEVERITIES.items() if v == f.severity), ""),
        "tail": bool(request.GET.get("tail")),
        "show_owner": not (f.execution or f.shard),
    }
    if is_fragment(request):
        return render(request, "traces/logs/_rows.html", context, status=400 if error else 200)
    return render(request, "traces/logs/search.html", context, status=400 if error else 200)
