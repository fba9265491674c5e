"""Serializers for jobs, executions and shards (read), and descriptions of the ingest bodies (OpenAPI only).

Every field is listed explicitly. Read serializers expect the rows' parents loaded (`select_related`), so a
page of results is one query. Ingest bodies are validated by `jobs.ingest` (fast, hand-written); the
`*RecordSerializer` classes below only document those bodies in the OpenAPI schema and are never used to validate.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from console import links
from jobs.choices import RunStatus, Trigger
from jobs.models import Execution, Job, Shard


class JobSerializer(serializers.ModelSerializer):
    namespace = serializers.CharField(source="namespace.name", read_only=True)
    url = serializers.SerializerMethodField(help_text="The job's console page.")

    class Meta:
        model = Job
        fields = [
            "namespace",
            "name",
            "kind",
            "schedule",
            "timezone",
            "grace_seconds",
            "max_runtime_seconds",
            "owner",
            "description",
            "labels",
            "sample_rate",
            "created_at",
            "updated_at",
            "url",
        ]
        read_only_fields = fields

    def get_url(self, job: Job) -> str:
        return links.job_url(job.namespace.name, job.name)


class EnvelopeSerializer(serializers.Serializer):
    """The message that triggered an execution (all fields optional)."""

    message_id = serializers.CharField(required=False, allow_blank=True, max_length=200)
    correlation_id = serializers.CharField(required=False, allow_blank=True, max_length=200)
    causation_id = serializers.CharField(required=False, allow_blank=True, max_length=200)
    trace_id = serializers.RegexField(r"^[0-9a-fA-F]{32}$", required=False, allow_blank=True)
    tenant_id = serializers.CharField(required=False, allow_blank=True, max_length=200)
    event_type = serializers.CharField(required=False, allow_blank=True, max_length=200)
    operation = serializers.CharField(required=False, allow_blank=True, max_length=100)


class ExecutionSerializer(serializers.ModelSerializer):
    namespace = serializers.CharField(source="job.namespace.name", read_only=True)
    job = serializers.CharField(source="job.name", read_only=True)
    envelope = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField(help_text="The execution's console page.")
    trace_url = serializers.SerializerMethodField(help_text="The execution's trace page, when it has a trace id.")

    class Meta:
        model = Execution
        fields = [
            "namespace",
            "job",
            "execution_id",
            "trigger",
            "status",
            "scheduled_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "attempt",
            "worker",
            "params",
            "error",
            "trace_id",
            "sampled",
            "envelope",
            "placeholder",
            "received_at",
            "updated_at",
            "url",
            "trace_url",
        ]
        read_only_fields = fields

    @extend_schema_field(EnvelopeSerializer(allow_null=True))
    def get_envelope(self, run: Execution) -> dict[str, str] | None:
        values = {
            "message_id": run.message_id,
            "correlation_id": run.correlation_id,
            "causation_id": run.causation_id,
            "trace_id": run.envelope_trace_id,
            "tenant_id": run.tenant_id,
            "event_type": run.event_type,
            "operation": run.operation,
        }
        return values if any(values.values()) else None

    def get_url(self, run: Execution) -> str:
        return links.execution_url(run.job.namespace.name, run.job.name, run.execution_id)

    def get_trace_url(self, run: Execution) -> str | None:
        return links.trace_url(run.trace_id) if run.trace_id else None


class ShardCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())


class LinkedTraceSerializer(serializers.Serializer):
    trace_id = serializers.CharField()
    url = serializers.CharField(help_text="The trace's console page.")
    relation = serializers.ChoiceField(
        choices=["execution", "shard", "linked"],
        help_text="`execution`: the run's own trace_id; `shard`: a shard's trace; `linked`: spans of it belong to "
        "the run by job attributes or span links.",
    )
    shard_id = serializers.CharField(allow_null=True, help_text="The shard that owns the trace, when one does.")
    root_service = serializers.CharField()
    root_name = serializers.CharField()
    start = serializers.DateTimeField()
    duration_ms = serializers.FloatField()
    span_count = serializers.IntegerField()
    error_count = serializers.IntegerField()
    services = serializers.ListField(child=serializers.CharField())


class LinkedTracesSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Every trace linked to the execution.")
    truncated = serializers.BooleanField(help_text="True when `results` lists fewer than `total`.")
    results = LinkedTraceSerializer(many=True, help_text="Failing traces first, then by start; at most 50.")


class ExecutionDetailSerializer(ExecutionSerializer):
    """One execution, with its shards counted by status and its traces (`shard_counts` and `linked_traces` are set
    by the view)."""

    shard_counts = serializers.SerializerMethodField()
    linked_traces = serializers.SerializerMethodField()

    class Meta(ExecutionSerializer.Meta):
        fields = [*ExecutionSerializer.Meta.fields, "shard_counts", "linked_traces"]
        read_only_fields = fields

    @extend_schema_field(LinkedTracesSerializer)
    def get_linked_traces(self, run: Execution) -> dict[str, object]:
        linked = getattr(run, "linked_traces", None)
        if linked is None:
            return {"total": 0, "truncated": False, "results": []}
        return {"total": linked.total, "truncated": linked.truncated, "results": [t.as_dict() for t in linked.traces]}

    @extend_schema_field(ShardCountsSerializer)
    def get_shard_counts(self, run: Execution) -> dict[str, object]:
        counts: dict[str, int] = getattr(run, "shard_status_counts", {})
        return {"total": sum(counts.values()), "by_status": counts}


class ShardSerializer(serializers.ModelSerializer):
    namespace = serializers.CharField(source="execution.job.namespace.name", read_only=True)
    job = serializers.CharField(source="execution.job.name", read_only=True)
    execution_id = serializers.CharField(source="execution.execution_id", read_only=True)
    url = serializers.SerializerMethodField(help_text="The shard's console page.")
    trace_url = serializers.SerializerMethodField(help_text="The shard's trace (at its root span when known).")

    class Meta:
        model = Shard
        fields = [
            "namespace",
            "job",
            "execution_id",
            "shard_id",
            "parent_shard_id",
            "index",
            "labels",
            "status",
            "worker",
            "started_at",
            "finished_at",
            "duration_ms",
            "attempt",
            "error",
            "trace_id",
            "span_id",
            "received_at",
            "updated_at",
            "url",
            "trace_url",
        ]
        read_only_fields = fields

    def get_url(self, shard: Shard) -> str:
        run = shard.execution
        return links.shard_url(run.job.namespace.name, run.job.name, run.execution_id, shard.shard_id)

    def get_trace_url(self, shard: Shard) -> str | None:
        return links.trace_url(shard.trace_id, shard.span_id or None) if shard.trace_id else None


# --- ingest bodies (documentation only; jobs.ingest validates) ----------------------------------------

_STATUS_HELP = "pending < running < succeeded/failed/timed_out/cancelled; a status never moves backwards."
_TIME_HELP = "RFC 3339 with an offset, e.g. 2024-05-01T12:00:00Z."
_EMPTY_HELP = " null, \"\" or {} mean 'not known' and keep the stored value."


class ExecutionRecordSerializer(serializers.Serializer):
    """An execution record. Upserted by (namespace, job, execution_id)."""

    namespace = serializers.CharField(required=False, help_text="Defaults to the token's namespace; must match it.")
    job = serializers.CharField(max_length=200, help_text="Job name; an unknown job is created.")
    execution_id = serializers.CharField(max_length=128, help_text="The scheduler's id (an integer is accepted).")
    trigger = serializers.ChoiceField(choices=Trigger.choices, required=False)
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False, help_text=_STATUS_HELP)
    scheduled_at = serializers.DateTimeField(required=False, help_text=_TIME_HELP)
    started_at = serializers.DateTimeField(required=False, help_text=_TIME_HELP)
    finished_at = serializers.DateTimeField(required=False, help_text=_TIME_HELP)
    attempt = serializers.IntegerField(
        min_value=1, required=False, help_text="A higher attempt supersedes; omitted means the stored attempt."
    )
    worker = serializers.CharField(max_length=200, required=False)
    params = serializers.DictField(required=False, help_text="Job parameters (any JSON object)." + _EMPTY_HELP)
    error = serializers.CharField(required=False)
    trace_id = serializers.RegexField(r"^[0-9a-fA-F]{32}$", required=False, help_text="32 hex digits.")
    sampled = serializers.BooleanField(required=False)
    envelope = EnvelopeSerializer(required=False)


class ShardRecordSerializer(serializers.Serializer):
    """A shard record. Upserted by (namespace, job, execution_id, shard_id); a missing execution is a placeholder."""

    namespace = serializers.CharField(required=False, help_text="Defaults to the token's namespace; must match it.")
    job = serializers.CharField(max_length=200)
    execution_id = serializers.CharField(max_length=128)
    shard_id = serializers.CharField(max_length=128)
    parent_shard_id = serializers.CharField(max_length=128, required=False)
    index = serializers.IntegerField(required=False)
    labels = serializers.DictField(
        child=serializers.CharField(), required=False, help_text='Business labels, e.g. {"account": "1000002"}.'
    )
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False, help_text=_STATUS_HELP)
    worker = serializers.CharField(max_length=200, required=False)
    started_at = serializers.DateTimeField(required=False, help_text=_TIME_HELP)
    finished_at = serializers.DateTimeField(required=False, help_text=_TIME_HELP)
    attempt = serializers.IntegerField(min_value=1, required=False)
    error = serializers.CharField(required=False)
    trace_id = serializers.RegexField(r"^[0-9a-fA-F]{32}$", required=False, help_text="32 hex digits.")
    span_id = serializers.RegexField(r"^[0-9a-fA-F]{16}$", required=False, help_text="16 hex digits: the root span.")


class IngestedKeySerializer(serializers.Serializer):
    namespace = serializers.CharField()
    job = serializers.CharField()
    execution_id = serializers.CharField()
    shard_id = serializers.CharField(required=False)
    url = serializers.CharField(help_text="Console page of the record.")


class IngestResultSerializer(serializers.Serializer):
    received = serializers.IntegerField(help_text="Records in the request.")
    created = serializers.IntegerField(help_text="Rows that did not exist before.")
    updated = serializers.IntegerField(help_text="Existing rows this request changed.")
    unchanged = serializers.IntegerField(help_text="Existing rows already holding everything sent (e.g. a resend).")
    results = IngestedKeySerializer(many=True, help_text="Each record's key and console URL, in request order.")


class RecordErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(allow_null=True, help_text="Item position in the batch; null for the body.")
    field = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class RecordErrorsSerializer(serializers.Serializer):
    errors = RecordErrorSerializer(many=True)
