"""`{% run_logs execution shard %}`: an execution's or shard's log panel, and `{% span_logs span %}`: a span's
records, for the pages of other features (jobs' execution and shard pages, the trace page's span detail).

The panel renders its first page (one query, two for a failing shard: its error-level lines come first) and
filters through /logs/ (traces/logs/views.py) with htmx; a running execution's panel polls it every few seconds
(the newest lines first, so new lines appear on top).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from console import links
from jobs.auth import Access
from traces.logs import queries
from traces.logs.rows import log_rows

register = template.Library()
PANEL_SIZE = 50
TAIL_SECONDS = 5
_LIVE = frozenset({"running", "pending", "queued", "retrying"})
_FAILED = frozenset({"failed", "timed_out", "timeout", "error"})


@register.simple_tag(takes_context=True)
def run_logs(context: dict[str, Any], execution: Any, shard: Any = None) -> SafeString:
    request = context.get("request")
    readable = Access.of(request).readable if request is not None else frozenset({execution.namespace_id})
    if execution.namespace_id not in readable:
        return SafeString("")
    job = execution.job
    f = queries.LogFilter(job=f"{job.namespace.name}/{job.name}", execution=execution.execution_id)
    scope = queries.Scope(readable, job=job, executions=[execution.pk])
    if shard is not None:
        f.shard = shard.shard_id
        scope.shards = [shard.pk]
    qs = queries.records(scope, f)
    owner = shard if shard is not None else execution
    failing = str(getattr(owner, "status", "")) in _FAILED
    result = queries.page(qs, "newest", "", PANEL_SIZE)
    errors = log_rows(queries.error_lines(qs)) if failing else []
    hidden = [("job", f.job), ("execution", f.execution)]
    if f.shard:
        hidden.append(("shard", f.shard))
    if failing:
        hidden.append(("errors_first", "1"))
    live = str(getattr(owner, "status", "")) in _LIVE
    next_url = ""
    if result.next_cursor:
        next_url = links.log_search_url(**dict(hidden), cursor=result.next_cursor)
    return render_to_string(
        "traces/logs/_panel.html",
        {
            "f": f,
            "rows": log_rows(result.rows),
            "errors": errors,
            "hidden": hidden,
            "next_url": next_url,
            "severities": queries.SEVERITIES,
            "live": live,
            "tail_seconds": TAIL_SECONDS,
            "search_url": links.log_search_url(**dict(hidden)),
            "panel_id": f"logs-{'shard' if shard is not None else 'run'}",
        },
        request=request,
    )


@register.simple_tag(takes_context=True)
def span_logs(context: dict[str, Any], span: Any) -> SafeString:
    records = queries.span_logs(span.namespace_id, span.trace_id, span.span_id)
    if not records:
        return SafeString("")
    return render_to_string(
        "traces/logs/_span_logs.html",
        {"rows": log_rows(records), "more": len(records) >= 50, "trace_id": span.trace_id},
        request=context.get("request"),
    )
