"""Trace pages: the waterfall (`/traces/<trace_id>/`), its fragments and the OTLP JSON download (trace search, the
`/traces/` page, is traces/search.py).

A big trace opens collapsed to what matters (error spans and the critical path, with their ancestors); other
subtrees are fetched when opened (`rows/<span_id>/`). Rows are joined in Python (traces/waterfall.py), not looped
over in a template. Everything is scoped to the caller's namespaces; an unknown or foreign trace is a 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.html import format_html
from django.views.decorators.http import require_GET

from console import links
from console.lookup import normalise_trace_id
from jobs.auth import Access
from jobs.models import Execution
from traces import find as find_mod
from traces import queries, query_through, recent, retention
from traces import waterfall as wf_mod
from traces.compare import Operation
from traces.compare import compare as compare_traces
from traces.critical import CriticalStep, critical_steps
from traces.download import otlp_json
from traces.filtersets import parse_duration_ms
from traces.models import Span, SpanKind, StatusCode, Trace
from traces.names import operation_name

_OUTLINE_ONLY = (
    "Summaries-only mode keeps this trace's outline, not its spans' attributes and events; with a tracing backend "
    "configured (JAEGER_QUERY_URL or TEMPO_QUERY_URL) the console fetches the whole trace from it."
)
EXPAND_ALL_LIMIT = 5_000  # rows "expand all" renders at most (the rest load when their parent is opened)
STATS_ROWS = 50
STATS_COLUMNS = [
    ("name", "Operation"),
    ("count", "Spans"),
    ("errors", "Errors"),
    ("total", "Total"),
    ("self", "Self"),
    ("avg", "Average"),
    ("max", "Max"),
]  # rows of the statistics table (by its sort); the rest are counted
COMPARE_ROWS = 50  # operations listed per table of the trace comparison (by impact); the rest are counted
# Attributes whose value is a message id: shown as a link to the message's workflow (else the lookup of the id).
MESSAGE_ID_KEYS = ("messaging.message.id", "message_id", "causation_id")
CORRELATION_KEYS = ("messaging.message.conversation_id", "correlation_id")


# --- helpers shared with the shard page ---------------------------------------------------------------------------


def _exception_of(event: dict[str, Any]) -> dict[str, str] | None:
    attrs = event.get("attributes") or {}
    if event.get("name") != "exception" and not any(str(k).startswith("exception.") for k in attrs):
        return None
    return {
        "type": str(attrs.get("exception.type", "")),
        "message": str(attrs.get("exception.message", "")),
        "stacktrace": str(attrs.get("exception.stacktrace", "")),
    }


def _with_message_links(attributes: dict[str, Any]) -> list[tuple[str, Any]]:
    """The attributes sorted, a message id's value made a link to its workflow (the span's correlation id names it;
    without one, the lookup of the message id finds it)."""
    correlation = next((str(attributes[k]) for k in CORRELATION_KEYS if attributes.get(k)), "")
    out: list[tuple[str, Any]] = []
    for key, value in sorted(attributes.items()):
        if key in MESSAGE_ID_KEYS and isinstance(value, str) and value:
            url = links.message_url(value, correlation)
            value = format_html('<a class="message-link" href="{}">{}</a>', url, value)
        elif key in CORRELATION_KEYS and isinstance(value, str) and value:
            value = format_html('<a class="message-link" href="{}">{}</a>', links.correlation_url(value), value)
        out.append((key, value))
    return out


def span_detail_context(namespace_id: int, trace_id: str, span_id: str) -> dict[str, Any] | None:
    """Everything the span panel shows: status, attributes, resource, events (exceptions spelled out), links."""
    span = Span.objects.filter(namespace_id=namespace_id, trace_id=trace_id, span_id=span_id).first()
    if span is None:
        return None
    events = []
    for event in span.events or []:
        if not isinstance(event, dict):
            continue
        exc = _exception_of(event)
        attrs = event.get("attributes") or {}
        rest = sorted((k, v) for k, v in attrs.items() if not (exc and str(k).startswith("exception.")))
        time_ns = event.get("time_ns") or event.get("time_unix_nano") or 0
        try:
            offset = int(time_ns) - span.start_ns if time_ns else None
        except (TypeError, ValueError):
            offset = None
        events.append({"name": event.get("name", ""), "offset_ns": offset, "exception": exc, "attributes": rest})
    span_links = []
    for link in span.links or []:
        if not isinstance(link, dict):
            continue
        tid = normalise_trace_id(str(link.get("trace_id", "")))
        sid = str(link.get("span_id", ""))
        span_links.append(
            {
                "trace_id": tid or str(link.get("trace_id", "")),
                "span_id": sid,
                "url": links.trace_url(tid, sid or None) if tid else "",
                "attributes": sorted((link.get("attributes") or {}).items()),
            }
        )
    return {
        "span": span,
        "kind": SpanKind(span.kind).label if span.kind in SpanKind.values else str(span.kind),
        "status": StatusCode(span.status_code).label if span.status_code in StatusCode.values else "",
        "attributes": _with_message_links(span.attributes or {}),
        "resource": sorted((span.resource or {}).items()),
        "events": events,
        "links": span_links,
        "url": links.trace_url(trace_id, span_id),
        "exceptions": [e["exception"] for e in events if e["exception"]],
        "other_events": [e for e in events if not e["exception"]],
    }


def _trace_or_404(request: HttpRequest, raw_trace_id: str) -> tuple[str, int, Trace | None]:
    """(trace_id, namespace_id, summary or None) for a trace the caller may read, else 404."""
    trace_id = normalise_trace_id(raw_trace_id)
    if trace_id is None:
        raise Http404("not a trace id")
    readable = Access.of(request).readable
    trace = (
        Trace.objects.in_namespaces(readable)
        .filter(trace_id=trace_id)
        .select_related("namespace", "job__namespace", "execution__job__namespace", "shard__execution")
        .order_by("namespace_id")
        .first()
    )
    if trace is not None:
        return trace_id, trace.namespace_id, trace
    ns_id = (
        Span.objects.in_namespaces(readable).filter(trace_id=trace_id).values_list("namespace_id", flat=True).first()
    )
    backend = ""
    if ns_id is None:
        ns_id, backend = _query_through(readable, trace_id)
    if ns_id is None:
        raise TraceNotHere(backend)
    return trace_id, ns_id, None


class TraceNotHere(Http404):
    """No span of the trace is stored; `backend` says what the tracing backend answered, when one was asked."""

    def __init__(self, backend: str = "") -> None:
        super().__init__("no such trace")
        self.backend = backend


def _query_through(readable: frozenset[int], trace_id: str) -> tuple[int | None, str]:
    """Fetch a trace the console lacks from Jaeger (settings.JAEGER_QUERY_URL), into the caller's only namespace.

    Returns the namespace it was stored in (or None) and, when Jaeger was asked and had nothing or failed, what it
    answered, so the page can say "Jaeger is unreachable" instead of a bare "not found". Bounded by
    settings.JAEGER_TIMEOUT_SECONDS.
    """
    if not query_through.configured() or len(readable) != 1:
        return None, ""
    from jobs.models import Namespace

    namespace = Namespace.objects.filter(id__in=readable).first()
    if namespace is None:
        return None, ""
    result = query_through.fetch_missing_trace(namespace, trace_id)
    if result.found:
        return namespace.pk, ""
    return None, result.message


def _owner_links(trace: Trace | None) -> dict[str, str]:
    """URLs of the job, execution and shard that own the trace (what the summary names)."""
    out: dict[str, str] = {}
    if trace is None:
        return out
    execution = trace.execution
    job = trace.job or (execution.job if execution is not None else None)
    if job is None:
        return out
    ns_name = job.namespace.name
    out["job"] = links.job_url(ns_name, job.name)
    out["job_name"] = job.name
    out["namespace"] = ns_name
    if execution is not None:
        out["execution"] = links.execution_url(ns_name, job.name, execution.execution_id)
        out["execution_id"] = execution.execution_id
        shard = trace.shard
        if shard is not None and shard.execution_id == execution.pk:
            out["shard"] = links.shard_url(ns_name, job.name, execution.execution_id, shard.shard_id)
            out["shard_id"] = shard.shard_id
    return out


def _waterfall(namespace_id: int, trace_id: str, trace: Trace | None, *, outline: bool = False) -> wf_mod.Waterfall:
    if trace is None:
        return queries.trace_waterfall(namespace_id, trace_id, outline=outline)
    return queries.trace_waterfall(
        namespace_id, trace_id, trace.span_count, updated_at=trace.updated_at, outline=outline
    )


def _rows_html(
    wf: wf_mod.Waterfall, ns_id: int, trace_id: str, visible: list[int], opened: set[int], **options: Any
) -> str:
    """The waterfall rows, with the business labels of the shards they show (one query, when any row shows one)."""
    labels = queries.shard_labels(ns_id, trace_id, wf_mod.tell_rows(wf, visible))
    return wf_mod.render_rows(wf, visible, opened, trace_url=links.trace_url(trace_id), labels=labels, **options)


# --- trace page and its fragments ---------------------------------------------------------------------------------


@login_required
@require_GET
def trace_detail(request: HttpRequest, trace_id: str) -> HttpResponse:
    try:
        trace_id, ns_id, trace = _trace_or_404(request, trace_id)
    except TraceNotHere as missing:
        return _no_spans_yet(request, trace_id, backend=missing.backend)
    wf = _waterfall(ns_id, trace_id, trace)
    expired = retention.expired_by(trace) if trace is not None else None
    if expired is not None and not wf.rows:
        found, backend = _query_through_expired(trace)  # type: ignore[arg-type]
        if not found:
            return _expired(request, trace, expired, backend)  # type: ignore[arg-type]
        recent.forget(ns_id, trace_id)
        wf = _waterfall(ns_id, trace_id, trace)
    backend = ""
    summaries_mode = settings.JOBTRACE_SPAN_STORAGE == "summaries"
    if trace is not None and summaries_mode and wf.rows and query_through.is_summary_only(ns_id, trace_id):
        whole = query_through.fetch_whole(trace) if query_through.configured() else None
        if whole is not None and whole.found:
            recent.forget(ns_id, trace_id)
            wf = _waterfall(ns_id, trace_id, trace)
        else:
            backend = whole.message if whole is not None else _OUTLINE_ONLY
    find, find_problem = _find_of(request)
    found = find_mod.matches(wf, find, queries.spans_with_text(ns_id, trace_id, find.text) if find.text else ())
    opened_matches = found[: find_mod.MAX_OPENED_MATCHES]
    asked = request.GET.get("span", "").strip().lower()
    selected = asked
    if selected not in wf.index_of:
        failing = wf.failing_span()
        if opened_matches and not asked:
            selected = wf.rows[opened_matches[0]].span_id
        else:
            selected = wf.rows[failing].span_id if failing is not None else (wf.rows[0].span_id if wf.rows else "")
    extra = [wf.index_of[selected]] if selected else []
    mode = request.GET.get("expand", "")
    opened = find_mod.expanded(wf, mode)
    if opened is None:
        opened = wf_mod.open_set(wf, extra=extra)
    else:
        opened |= find_mod.ancestors_of(wf, extra)
    opened |= find_mod.ancestors_of(wf, opened_matches)
    keep = opened | wf_mod.important(wf, extra) | set(opened_matches)
    visible = wf_mod.visible_rows(wf, opened, keep=keep, max_children=None if mode == "all" else wf_mod.MAX_CHILDREN)
    cut_at = EXPAND_ALL_LIMIT if len(visible) > EXPAND_ALL_LIMIT else None
    if cut_at:
        visible = visible[:cut_at]
    trace_url = links.trace_url(trace_id)
    rows_html = _rows_html(wf, ns_id, trace_id, visible, opened, selected=selected, marked=set(opened_matches))
    detail = span_detail_context(ns_id, trace_id, selected) if selected else None
    linked_here = queries.linked_here(ns_id, trace_id)
    rows = wf.rows
    steps = critical_steps(wf)
    stats_sort = request.GET.get("stats", "self")
    stats = find_mod.statistics(wf, stats_sort)
    return render(
        request,
        "traces/trace.html",
        {
            "trace_id": trace_id,
            "trace": trace,
            "backend": backend,
            "expired_days": expired if expired is not None and trace and len(wf.rows) < trace.span_count else None,
            "owner": _owner_links(trace),
            "wf": wf,
            "rows_html": rows_html,
            "shown": len(visible),
            "cut_at": cut_at,
            "detail": detail,
            "span_not_found": asked if asked and asked != selected else "",
            "linked_here": linked_here,
            "find": find,
            "find_raw": {k: request.GET.get(k, "") for k in ("find", "min", "svc", "op")},
            "find_problem": find_problem,
            "find_query": _find_query(request) if find.active else "",
            "found": len(found),
            "found_opened": len(opened_matches),
            "expand": mode if mode in find_mod.EXPAND_MODES else "",
            "expand_urls": {m: _page_url(trace_url, request, expand=m, span="") for m in find_mod.EXPAND_MODES},
            "stats": [(st, _op_url(trace_url, request, st)) for st in stats[:STATS_ROWS]],
            "stats_more": max(len(stats) - STATS_ROWS, 0),
            "stats_columns": STATS_COLUMNS,
            "stats_sort": stats_sort if stats_sort in find_mod.STATS_SORTS else "self",
            "stats_sort_urls": {k: _page_url(trace_url, request, stats=k) for k in find_mod.STATS_SORTS},
            "trace_url": trace_url,
            "critical": [(rows[step.index], step) for step in steps[:50]],
            "critical_more": max(len(steps) - 50, 0),
            "critical_spans": len(wf.critical_path),
            "critical_top": _critical_by_operation(wf, steps)[:3],
            "slowest": [rows[i] for i in wf.slowest],
            "self_by_service": wf.self_by_service[:20],
            "self_by_operation": wf.self_by_operation[:20],
            "errors": len(wf.error_rows),
            "service_colours": [(s, wf.colour_of(s)) for s in wf.services],
            "started": datetime.fromtimestamp(wf.start_ns / 1e9, tz=UTC) if rows else None,
        },
    )


def _query_through_expired(trace: Trace) -> tuple[bool, str]:
    """A trace whose spans expired here, asked of the tracing backend (which keeps spans longer), when one is set."""
    if not query_through.configured():
        return False, ""
    result = query_through.fetch_missing_trace(trace.namespace, trace.trace_id)
    return result.found, result.message


def _expired(request: HttpRequest, trace: Trace, days: int, backend: str) -> HttpResponse:
    """A trace whose summary is kept but whose spans expired: said so, with what the backend answered."""
    context = {
        "trace_id": trace.trace_id,
        "trace": trace,
        "expired_days": days,
        "owner": _owner_links(trace),
        "backend": backend,
        "backend_configured": query_through.configured(),
        "started": datetime.fromtimestamp(trace.start_ns / 1e9, tz=UTC),
    }
    return render(request, "traces/expired.html", context, status=410)


def _find_of(request: HttpRequest) -> tuple[find_mod.Find, str]:
    """The find the page's form asks for (`find`, `errors`, `min` as `100ms`/`1.5s`, `svc` + `op`), and what was
    wrong with it, if anything (the page says so and finds nothing by duration)."""
    get = request.GET
    problem = ""
    min_ns = None
    raw_min = get.get("min", "").strip()
    if raw_min:
        try:
            min_ns = int(parse_duration_ms(raw_min) * 1_000_000)
        except (ValueError, ValidationError) as exc:
            problem = " ".join(getattr(exc, "messages", [str(exc)]))
    find = find_mod.Find(
        text=get.get("find", "").strip()[:200],
        errors=get.get("errors", "") in ("1", "on", "true"),
        min_duration_ns=min_ns,
        service=get.get("svc", "").strip() if get.get("op") else "",
        operation=get.get("op", "").strip(),
    )
    return find, problem


FIND_PARAMETERS = ("find", "errors", "min", "svc", "op")


def _find_query(request: HttpRequest) -> str:
    """The page's find as a query string, which a subtree fragment is fetched with so that it marks its matches."""
    return urlencode({k: request.GET[k] for k in FIND_PARAMETERS if request.GET.get(k)})


def _page_url(trace_url: str, request: HttpRequest, **changes: str) -> str:
    """The trace page's URL with these parameters changed (blank ones dropped)."""
    params = {k: v for k, v in request.GET.items() if v}
    params.update(changes)
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{trace_url}?{query}" if query else trace_url


def _op_url(trace_url: str, request: HttpRequest, st: find_mod.OperationStats) -> str:
    """A statistics row's link: the waterfall filtered to that operation's spans (any other find dropped)."""
    return _page_url(trace_url, request, svc=st.service, op=st.name, find="", errors="", min="", span="")


def _critical_by_operation(wf: wf_mod.Waterfall, steps: list[CriticalStep]) -> list[dict[str, Any]]:
    """The critical path's own time per operation (ids in names grouped), largest first: its one-line summary."""
    total = max(wf.duration_ns, 1)
    by_op: dict[tuple[str, str], list[int]] = {}
    for step in steps:
        r = wf.rows[step.index]
        acc = by_op.setdefault((r.service, operation_name(r.name)), [0, 0])
        acc[0] += step.own_ns
        acc[1] += 1
    ordered = sorted(by_op.items(), key=lambda item: -item[1][0])
    return [{"service": k[0], "name": k[1], "own_ns": v[0], "share": v[0] / total, "spans": v[1]} for k, v in ordered]


def _no_spans_yet(request: HttpRequest, raw_trace_id: str, backend: str = "") -> HttpResponse:
    """A trace id an execution names but no span of which has arrived (a visible propagation gap), or one the
    tracing backend was asked for and did not give (it says why); else a plain 404."""
    trace_id = normalise_trace_id(raw_trace_id)
    if trace_id is None:
        raise Http404("not a trace id")
    execution = (
        Execution.objects.in_namespaces(Access.of(request).readable)
        .filter(trace_id=trace_id)
        .select_related("job__namespace")
        .first()
    )
    if execution is None and not backend:
        raise Http404("no such trace")
    context = {
        "trace_id": trace_id,
        "execution": execution,
        "execution_url": links.execution_url_of(execution) if execution else "",
        "backend": backend,
    }
    return render(request, "traces/no_spans.html", context, status=404)


@login_required
@require_GET
def trace_rows(request: HttpRequest, trace_id: str, span_id: str) -> HttpResponse:
    """The rows of one subtree with its root opened: what the page swaps in when a collapsed row is expanded."""
    trace_id, ns_id, trace = _trace_or_404(request, trace_id)
    wf = _waterfall(ns_id, trace_id, trace, outline=True)  # the page's, when kept; else the cheaper pass
    index = wf.index_of.get(span_id.lower())
    if index is None:
        raise Http404("no such span")
    opened = wf_mod.open_set(wf) | {index}
    # The expanded row shows all its children; rows below keep the page's limits.
    keep = opened | wf_mod.important(wf) | set(wf.rows[index].children)
    visible = wf_mod.visible_rows(wf, opened, within=index, keep=keep)
    # The page's find (passed along by console/waterfall.js): the subtree's matches are marked as the page's are.
    find, _ = _find_of(request)
    marked: set[int] = set()
    if find.active:
        texts = queries.spans_with_text(ns_id, trace_id, find.text) if find.text else ()
        inside = wf.subtree(index)
        marked = {i for i in find_mod.matches(wf, find, texts) if i in inside}
    return HttpResponse(_rows_html(wf, ns_id, trace_id, visible, opened, marked=marked))


@login_required
@require_GET
def span_fragment(request: HttpRequest, trace_id: str, span_id: str) -> HttpResponse:
    trace_id, ns_id, _ = _trace_or_404(request, trace_id)
    detail = span_detail_context(ns_id, trace_id, span_id.lower())
    if detail is None:
        raise Http404("no such span")
    return render(request, "traces/_span.html", {"detail": detail})


@login_required
@require_GET
def trace_download(request: HttpRequest, trace_id: str) -> HttpResponse:
    """The trace as OTLP JSON (ExportTraceServiceRequest), as any OTLP/HTTP receiver accepts it."""
    trace_id, ns_id, _ = _trace_or_404(request, trace_id)
    spans = Span.objects.filter(namespace_id=ns_id, trace_id=trace_id).order_by("start_ns", "span_id")
    response = JsonResponse(otlp_json(spans.iterator(chunk_size=2000)), json_dumps_params={"separators": (",", ":")})
    response["Content-Disposition"] = f'attachment; filename="trace-{trace_id}.otlp.json"'
    return response


@login_required
@require_GET
def trace_compare(request: HttpRequest, a: str, b: str) -> HttpResponse:
    """Two traces compared operation by operation (traces/compare.py); both must be readable, else 404."""
    trace_a, ns_a, summary_a = _trace_or_404(request, a)
    trace_b, ns_b, summary_b = _trace_or_404(request, b)
    result = compare_traces(_waterfall(ns_a, trace_a, summary_a), _waterfall(ns_b, trace_b, summary_b))
    url_a, url_b = links.trace_url(trace_a), links.trace_url(trace_b)

    def rows(ops: list[Operation]) -> list[dict[str, Any]]:
        return [
            {
                "op": op,
                "a_url": links.trace_url(trace_a, op.span_a) if op.span_a else "",
                "b_url": links.trace_url(trace_b, op.span_b) if op.span_b else "",
            }
            for op in ops[:COMPARE_ROWS]
        ]

    return render(
        request,
        "traces/compare.html",
        {
            "trace_a": trace_a,
            "trace_b": trace_b,
            "url_a": url_a,
            "url_b": url_b,
            "swap_url": links.trace_compare_url(trace_b, trace_a),
            "cmp": result,
            "rows": rows(result.operations),
            "more": max(len(result.operations) - COMPARE_ROWS, 0),
            "only_a": rows(result.only_in_a),
            "only_b": rows(result.only_in_b),
            "errors": rows(result.error_changes),
        },
    )
