"""GET /api/v1/logs: log records, filtered as the /logs/ page filters them, cursor-paginated, scoped to the
caller's namespaces (another namespace's job, execution or shard is a 404, as one that does not exist)."""

from __future__ import annotations

from typing import ClassVar

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from console import links
from jobs.auth import Access, ReadScope
from traces.logs import queries
from traces.logs.models import LogRecord


class LogRecordSerializer(serializers.ModelSerializer):
    namespace = serializers.SerializerMethodField()
    job = serializers.SerializerMethodField(help_text="The owning job's name, when linked.")
    execution_id = serializers.SerializerMethodField(help_text="The owning execution, when linked.")
    shard_id = serializers.SerializerMethodField(help_text="The owning shard, when linked.")
    body = serializers.JSONField(help_text="The body as received: any OTLP AnyValue (string, number, map, array).")
    attributes = serializers.JSONField()
    resource = serializers.JSONField()
    scope = serializers.JSONField()
    trace_url = serializers.SerializerMethodField(help_text="Console URL of the record's trace, when it names one.")

    class Meta:
        model = LogRecord
        fields = [
            "id",
            "namespace",
            "time_ns",
            "time_unix_nano",
            "observed_time_unix_nano",
            "severity_number",
            "severity_text",
            "body",
            "attributes",
            "resource",
            "scope",
            "service",
            "trace_id",
            "span_id",
            "flags",
            "event_name",
            "dropped_attributes_count",
            "job",
            "execution_id",
            "shard_id",
            "trace_url",
        ]

    def get_namespace(self, record: LogRecord) -> str:
        return record.namespace.name

    def get_job(self, record: LogRecord) -> str | None:
        return record.job.name if record.job_id and record.job else None

    def get_execution_id(self, record: LogRecord) -> str | None:
        return record.execution.execution_id if record.execution_id and record.execution else None

    def get_shard_id(self, record: LogRecord) -> str | None:
        return record.shard.shard_id if record.shard_id and record.shard else None

    def get_trace_url(self, record: LogRecord) -> str | None:
        return links.trace_url(record.trace_id) if record.trace_id else None


_PARAMETERS = [
    OpenApiParameter("job", str, description="`namespace/job`, or a job name in your namespaces."),
    OpenApiParameter("execution", str, description="An execution id (of `job`, when given)."),
    OpenApiParameter("shard", str, description="A shard id (of `execution`, when given)."),
    OpenApiParameter("service", str, description="The resource's service.name."),
    OpenApiParameter(
        "severity", str, description="The minimum severity: trace, debug, info, warn, error, fatal or 0-24."
    ),
    OpenApiParameter("q", str, description="Text the body contains (case-insensitive substring)."),
    OpenApiParameter("since", str, description="RFC 3339, a date, a Unix time or an age like 24h."),
    OpenApiParameter("until", str, description="As since; records before it."),
    OpenApiParameter("order", str, description="newest (default) or oldest first."),
    OpenApiParameter(
        "limit", int, description=f"Records per page, 1-{queries.MAX_LIMIT} (default {queries.DEFAULT_LIMIT})."
    ),
    OpenApiParameter("cursor", str, description="The `next` of the previous page."),
]


class LogList(APIView):
    permission_classes: ClassVar = [ReadScope]

    @extend_schema(
        summary="Search log records, newest (or oldest) first, cursor-paginated",
        operation_id="logs_search",
        parameters=_PARAMETERS,
        responses={
            200: inline_serializer(
                "LogSearch",
                {
                    "results": LogRecordSerializer(many=True),
                    "next": serializers.CharField(allow_null=True, help_text="The URL of the next page, when cut."),
                    "cut": serializers.BooleanField(help_text="More records matched than this page holds."),
                    "limit": serializers.IntegerField(),
                },
            ),
            400: OpenApiResponse(description="A parameter is not valid; `errors` names it."),
            404: OpenApiResponse(description="No job, execution or shard of that name that you may read."),
        },
        tags=["logs"],
    )
    def get(self, request: Request) -> Response:
        access = Access.of(request)
        try:
            f = queries.LogFilter.from_params(request.query_params)
            limit = _limit(request.query_params.get("limit"))
            scope = queries.resolve(access.readable, f)
            cursor = request.query_params.get("cursor", "")
            result = queries.page(queries.records(scope, f, text=False), f.order, cursor, limit, q=f.q)
        except queries.NotFound as exc:
            raise Http404(str(exc)) from None
        except ValueError as exc:
            name, _, why = str(exc).partition(": ")
            return Response({"detail": "Invalid filter.", "errors": {name: [why]}}, status=400)
        next_url = None
        if result.next_cursor:
            next_url = replace_query_param(request.build_absolute_uri(), "cursor", result.next_cursor)
        return Response(
            {
                "results": LogRecordSerializer(result.rows, many=True).data,
                "next": next_url,
                "cut": result.cut,
                "limit": limit,
            }
        )


def _limit(raw: str | None) -> int:
    if not raw:
        return queries.DEFAULT_LIMIT
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"limit: must be a positive integer, not {raw[:20]!r}")
    return min(int(raw), queries.MAX_LIMIT)
