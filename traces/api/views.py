"""GET /api/v1/traces (search over summaries) and GET /api/v1/traces/<trace_id> (the trace with its spans)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console import links
from console.lookup import normalise_trace_id
from jobs.auth import Access, ReadScope
from jobs.models import Execution, Shard
from traces import retention
from traces.api.serializers import TRACE_RELATED, TraceDetailSerializer, TraceSummarySerializer
from traces.filtersets import TraceFilterSet
from traces.models import Span, SpanLink, Trace
from traces.summaries import clock_skew

MAX_SPANS = 10_000
MAX_LINKED_FROM = 100


def readable_traces(request: Request) -> QuerySet[Trace]:
    access = Access.of(request)
    return Trace.objects.in_namespaces(access.readable).select_related(*TRACE_RELATED)


_FILTER_PARAMETERS = [
    OpenApiParameter(
        name,
        float if name.endswith("_duration_ms") else str,
        description=str(f.extra.get("help_text") or f.label or name),
    )
    for name, f in TraceFilterSet.base_filters.items()
]


class TraceList(APIView):
    permission_classes: ClassVar = [ReadScope]

    @extend_schema(
        summary="Search traces (answered from the per-trace summaries), newest first",
        operation_id="traces_search",
        parameters=[
            *_FILTER_PARAMETERS,
            OpenApiParameter("limit", int, description="At most this many (default and maximum: the search limit)."),
        ],
        responses=inline_serializer(
            "TraceSearch",
            {
                "results": TraceSummarySerializer(many=True),
                "truncated": serializers.BooleanField(help_text="More traces matched than were returned."),
                "limit": serializers.IntegerField(),
            },
        ),
        tags=["traces"],
    )
    def get(self, request: Request) -> Response:
        filterset = TraceFilterSet(request.query_params, queryset=readable_traces(request), request=request)
        if not filterset.is_valid():
            return Response({"detail": "Invalid filter.", "errors": filterset.errors}, status=400)
        limit = settings.JOBTRACE_SEARCH_LIMIT
        raw_limit = request.query_params.get("limit")
        if raw_limit:
            try:
                limit = max(1, min(int(raw_limit), limit))
            except ValueError:
                return Response({"detail": "Invalid filter.", "errors": {"limit": ["Not an integer."]}}, status=400)
        rows = list(filterset.qs.order_by("-start_ns", "-id")[: limit + 1])
        return Response(
            {
                "results": TraceSummarySerializer(rows[:limit], many=True).data,
                "truncated": len(rows) > limit,
                "limit": limit,
            }
        )


def trace_context(trace: Trace) -> dict[str, Any]:
    """Spans (bounded), owner ids, warnings (clock skew, missing root, truncation) and inbound links."""
    spans = list(
        Span.objects.in_namespaces([trace.namespace_id])
        .of_trace(trace.trace_id)
        .order_by("start_ns", "span_id")[: MAX_SPANS + 1]
    )
    warnings: list[dict[str, Any]] = []
    if len(spans) > MAX_SPANS:
        spans = spans[:MAX_SPANS]
        warnings.append({"kind": "truncated", "message": f"Only the first {MAX_SPANS} spans are listed."})
    exec_pks = {s.execution_id for s in spans if s.execution_id}
    shard_pks = {s.shard_id for s in spans if s.shard_id}
    executions = dict(Execution.objects.filter(pk__in=exec_pks).values_list("pk", "execution_id")) if exec_pks else {}
    shards = dict(Shard.objects.filter(pk__in=shard_pks).values_list("pk", "shard_id")) if shard_pks else {}
    warnings.extend(w.as_dict() for w in clock_skew(spans))
    expired = retention.expired_by(trace)
    if expired is not None and len(spans) < trace.span_count:
        message = f"Spans of this trace expired by the retention of {expired} days; the summary is kept."
        warnings.append({"kind": "expired", "message": message})
    if spans and not any(not s.parent_span_id for s in spans):
        warnings.append(
            {"kind": "root_missing", "message": "The root span has not arrived; the earliest span stands in for it."}
        )
    linked_from = [
        {
            "trace_id": t,
            "span_id": s,
            "linked_span_id": ls,
            "ref_type": ref,
            "url": links.trace_url(t, s),
        }
        for t, s, ls, ref in SpanLink.objects.filter(namespace_id=trace.namespace_id, linked_trace_id=trace.trace_id)
        .exclude(trace_id=trace.trace_id)
        .order_by("trace_id", "span_id")
        .values_list("trace_id", "span_id", "linked_span_id", "ref_type")[:MAX_LINKED_FROM]
    ]
    return {
        "spans": spans,
        "executions": executions,
        "shards": shards,
        "warnings": warnings,
        "linked_from": linked_from,
    }


class TraceDetail(APIView):
    permission_classes: ClassVar = [ReadScope]

    @extend_schema(
        operation_id="traces_get",
        summary="One trace: its summary, owning job/execution/shard, warnings and spans",
        parameters=[
            OpenApiParameter("namespace", str, description="When the id exists in several of your namespaces.")
        ],
        responses=TraceDetailSerializer,
        tags=["traces"],
    )
    def get(self, request: Request, trace_id: str) -> Response:
        normal = normalise_trace_id(trace_id)
        if normal is None:
            raise Http404
        qs = readable_traces(request).filter(trace_id=normal)
        if request.query_params.get("namespace"):
            qs = qs.filter(namespace__name=request.query_params["namespace"])
        trace = qs.order_by("namespace__name").first()
        if trace is None:
            raise Http404
        return Response(TraceDetailSerializer(trace, context=trace_context(trace)).data)
