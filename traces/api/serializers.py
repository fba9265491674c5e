"""Trace summaries and spans as the API returns them. Every field listed; console URLs from console/links.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from console import links
from traces.models import Span, SpanKind, StatusCode, Trace


def ns_to_datetime(value: int) -> datetime:
    return datetime.fromtimestamp(value // 1_000_000_000, tz=UTC).replace(microsecond=(value % 1_000_000_000) // 1000)


class OwnerJobSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    name = serializers.CharField()
    url = serializers.CharField()


class OwnerExecutionSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    job = serializers.CharField()
    execution_id = serializers.CharField()
    status = serializers.CharField()
    url = serializers.CharField()


class OwnerShardSerializer(OwnerExecutionSerializer):
    shard_id = serializers.CharField()


def job_of(trace: Trace) -> dict[str, str] | None:
    job = trace.job
    if job is None:
        return None
    return {"namespace": job.namespace.name, "name": job.name, "url": links.job_url(job.namespace.name, job.name)}


def execution_of(trace: Trace) -> dict[str, str] | None:
    e = trace.execution
    if e is None:
        return None
    return {
        "namespace": e.job.namespace.name,
        "job": e.job.name,
        "execution_id": e.execution_id,
        "status": e.status,
        "url": links.execution_url_of(e),
    }


def shard_of(trace: Trace) -> dict[str, str] | None:
    s = trace.shard
    if s is None:
        return None
    job = s.execution.job
    return {
        "namespace": job.namespace.name,
        "job": job.name,
        "execution_id": s.execution.execution_id,
        "shard_id": s.shard_id,
        "status": s.status,
        "url": links.shard_url_of(s),
    }


# The select_related every serializer below needs (one query per list).
TRACE_RELATED = ("namespace", "job__namespace", "execution__job__namespace", "shard__execution__job__namespace")


class TraceSummarySerializer(serializers.ModelSerializer):
    namespace = serializers.CharField(source="namespace.name")
    start = serializers.SerializerMethodField()
    duration_ms = serializers.SerializerMethodField()
    job = serializers.SerializerMethodField()
    execution = serializers.SerializerMethodField()
    shard = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Trace
        fields = [
            "trace_id",
            "namespace",
            "root_span_id",
            "root_service",
            "root_name",
            "start",
            "start_ns",
            "duration_ns",
            "duration_ms",
            "span_count",
            "error_count",
            "services",
            "job",
            "execution",
            "shard",
            "url",
        ]

    def get_start(self, obj: Trace) -> datetime:
        return ns_to_datetime(obj.start_ns)

    def get_duration_ms(self, obj: Trace) -> float:
        return round(obj.duration_ns / 1e6, 3)

    @extend_schema_field(OwnerJobSerializer(allow_null=True))
    def get_job(self, obj: Trace) -> dict[str, str] | None:
        return job_of(obj)

    @extend_schema_field(OwnerExecutionSerializer(allow_null=True))
    def get_execution(self, obj: Trace) -> dict[str, str] | None:
        return execution_of(obj)

    @extend_schema_field(OwnerShardSerializer(allow_null=True))
    def get_shard(self, obj: Trace) -> dict[str, str] | None:
        return shard_of(obj)

    def get_url(self, obj: Trace) -> str:
        return links.trace_url(obj.trace_id)


class SpanSerializer(serializers.ModelSerializer):
    kind = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    start = serializers.SerializerMethodField()
    execution_id = serializers.SerializerMethodField(help_text="The owning execution's id, when linked.")
    shard_id = serializers.SerializerMethodField(help_text="The owning shard's id, when linked.")

    class Meta:
        model = Span
        fields = [
            "trace_id",
            "span_id",
            "parent_span_id",
            "name",
            "service",
            "kind",
            "start",
            "start_ns",
            "duration_ns",
            "status",
            "attributes",
            "resource",
            "scope",
            "events",
            "links",
            "trace_state",
            "flags",
            "message_id",
            "correlation_id",
            "causation_id",
            "execution_id",
            "shard_id",
        ]

    def get_kind(self, obj: Span) -> str:
        return SpanKind(obj.kind).label if obj.kind in SpanKind.values else str(obj.kind)

    @extend_schema_field({"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}})
    def get_status(self, obj: Span) -> dict[str, Any]:
        code = StatusCode(obj.status_code).label if obj.status_code in StatusCode.values else str(obj.status_code)
        return {"code": code, "message": obj.status_message}

    def get_start(self, obj: Span) -> datetime:
        return ns_to_datetime(obj.start_ns)

    def get_execution_id(self, obj: Span) -> str | None:
        return self.context.get("executions", {}).get(obj.execution_id)

    def get_shard_id(self, obj: Span) -> str | None:
        return self.context.get("shards", {}).get(obj.shard_id)


class TraceWarningSerializer(serializers.Serializer):
    kind = serializers.CharField()
    span_id = serializers.CharField(required=False)
    message = serializers.CharField()


class LinkedFromSerializer(serializers.Serializer):
    trace_id = serializers.CharField()
    span_id = serializers.CharField()
    linked_span_id = serializers.CharField()
    ref_type = serializers.CharField()
    url = serializers.CharField()


class TraceDetailSerializer(TraceSummarySerializer):
    spans = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField()
    linked_from = serializers.SerializerMethodField()

    class Meta(TraceSummarySerializer.Meta):
        fields = [*TraceSummarySerializer.Meta.fields, "warnings", "linked_from", "spans"]

    @extend_schema_field(SpanSerializer(many=True))
    def get_spans(self, obj: Trace) -> list[dict[str, Any]]:
        return SpanSerializer(self.context["spans"], many=True, context=self.context).data  # type: ignore[return-value]

    @extend_schema_field(TraceWarningSerializer(many=True))
    def get_warnings(self, obj: Trace) -> list[dict[str, Any]]:
        return self.context.get("warnings", [])

    @extend_schema_field(LinkedFromSerializer(many=True))
    def get_linked_from(self, obj: Trace) -> list[dict[str, Any]]:
        return self.context.get("linked_from", [])
