"""Spans as received, per-trace summaries for fast search, and the span-link index.

Times are integer nanoseconds since the Unix epoch, so OTLP round-trips exactly. Linking (which execution or
shard a span belongs to) is computed as data arrives and stored on the span and on the trace summary, so pages
and searches never recompute it per request.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.db.models import Q
from django.utils import timezone

from jobs.models import Execution, Job, Namespace, Shard
from traces import partitions
from traces.fields import EqualityIndex, JSONTextField
from traces.querysets import SpanQuerySet, TraceQuerySet


class SpanKind(models.IntegerChoices):
    """OTLP's Span.SpanKind enum values."""

    UNSPECIFIED = 0, "unspecified"
    INTERNAL = 1, "internal"
    SERVER = 2, "server"
    CLIENT = 3, "client"
    PRODUCER = 4, "producer"
    CONSUMER = 5, "consumer"


class StatusCode(models.IntegerChoices):
    """OTLP's Status.StatusCode enum values."""

    UNSET = 0, "unset"
    OK = 1, "ok"
    ERROR = 2, "error"


class Span(models.Model):
    # No index of its own: the unique (namespace, trace_id, span_id) index serves every namespace lookup, and one
    # index less is measurably cheaper per stored span. No database constraint either: PostgreSQL checks a foreign
    # key per inserted row with a query of its own (6 µs of its CPU per span on COPY, a quarter of the insert).
    # Spans are written only by traces.store.store_spans, for the namespace of the authenticated token, and
    # deleting a namespace still deletes its spans (Django's CASCADE).
    namespace = models.ForeignKey(
        Namespace, on_delete=models.CASCADE, related_name="spans", db_index=False, db_constraint=False
    )
    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16, blank=True)
    name = models.TextField()
    service = models.CharField(max_length=255)
    kind = models.SmallIntegerField(choices=SpanKind.choices, default=SpanKind.UNSPECIFIED)
    start_ns = models.BigIntegerField()
    duration_ns = models.BigIntegerField()
    status_code = models.SmallIntegerField(choices=StatusCode.choices, default=StatusCode.UNSET)
    status_message = models.TextField(blank=True)
    # Stored as `json`, not `jsonb`, on PostgreSQL: see traces/fields.py.
    attributes = JSONTextField(default=dict)  # {key: value}, values as OTLP AnyValue decoded to JSON
    resource = JSONTextField(default=dict)  # resource attributes, service.name included
    scope = JSONTextField(default=dict)  # {"name", "version", "attributes"}
    events = JSONTextField(default=list)  # [{"time_ns", "name", "attributes"}]
    links = JSONTextField(default=list)  # [{"trace_id", "span_id", "trace_state", "attributes"}]
    trace_state = models.TextField(blank=True)
    flags = models.PositiveIntegerField(default=0)
    # Job attributes read from the span or its resource (job.namespace, job.name, job.execution.id,
    # job.shard.id, or a configured alias), kept as columns so linking can find spans by them.
    job_namespace = models.CharField(max_length=200, blank=True)
    job_name = models.CharField(max_length=200, blank=True)
    job_execution_id = models.CharField(max_length=128, blank=True)
    job_shard_id = models.CharField(max_length=128, blank=True)
    # Messaging attributes (messaging.message.id, messaging.message.conversation_id, causation_id).
    message_id = models.CharField(max_length=200, blank=True)
    correlation_id = models.CharField(max_length=200, blank=True)
    causation_id = models.CharField(max_length=200, blank=True)
    # Linking result: the execution and shard this span belongs to (see traces/linking.py).
    execution = models.ForeignKey(
        Execution, on_delete=models.SET_NULL, null=True, blank=True, related_name="spans", db_constraint=False
    )
    shard = models.ForeignKey(
        Shard, on_delete=models.SET_NULL, null=True, blank=True, related_name="spans", db_constraint=False
    )
    received_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[SpanQuerySet] = SpanQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["start_ns", "span_id"]
        constraints = [
            # The idempotence key. `start_ns` is in it because on PostgreSQL the table is range-partitioned by day
            # on it (traces/partitions.py), and a partitioned table's unique keys must hold the partition key; a
            # retry resends a span with its start, so it still hits the key.
            models.UniqueConstraint(
                fields=["namespace", "trace_id", "span_id", "start_ns"], name="span_ns_trace_span_uniq"
            ),
        ]
        indexes = [
            # Linking by attributes: spans that name an execution, looked up when the execution arrives.
            models.Index(
                fields=["namespace", "job_execution_id"],
                name="span_job_execution_idx",
                condition=~Q(job_execution_id=""),
            ),
            # Linking by attributes: spans that name a shard, looked up when the shard arrives.
            models.Index(
                fields=["namespace", "job_shard_id"],
                name="span_job_shard_idx",
                condition=~Q(job_shard_id=""),
            ),
            # Lookup by span id (a span id pasted into the lookup box, console/lookup.py): a hash index on
            # PostgreSQL, the cheapest to keep up per stored span (traces/fields.py).
            EqualityIndex(fields=["span_id"], name="span_span_id_idx"),
            # Lookup by message id and the causality walk.
            models.Index(fields=["namespace", "message_id"], name="span_message_idx", condition=~Q(message_id="")),
            models.Index(
                fields=["namespace", "correlation_id"],
                name="span_correlation_idx",
                condition=~Q(correlation_id=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service}: {self.name} ({self.trace_id}/{self.span_id})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Not the ingest path (traces/store.py, which creates a missing day itself): the ORM's single writes.
        partitions.ensure_for_values(partitions.SPANS, [self.start_ns])
        super().save(*args, **kwargs)

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.duration_ns

    @property
    def is_error(self) -> bool:
        return self.status_code == StatusCode.ERROR


class Trace(models.Model):
    """One summary per trace, kept right as spans arrive (out of order, twice, or late)."""

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="traces")
    trace_id = models.CharField(max_length=32)
    root_span_id = models.CharField(max_length=16, blank=True)
    root_service = models.CharField(max_length=255, blank=True)
    root_name = models.TextField(blank=True)
    start_ns = models.BigIntegerField()
    duration_ns = models.BigIntegerField()
    span_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    services = models.JSONField(default=list)  # sorted service names
    # Owning execution / shard / job, when the trace is linked (denormalised job for search by job).
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="traces")
    execution = models.ForeignKey(Execution, on_delete=models.SET_NULL, null=True, blank=True, related_name="traces")
    shard = models.ForeignKey(Shard, on_delete=models.SET_NULL, null=True, blank=True, related_name="traces")
    first_seen_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[TraceQuerySet] = TraceQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["-start_ns"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "trace_id"], name="trace_ns_trace_uniq"),
        ]
        indexes = [
            # Trace search, newest first, within a namespace.
            models.Index(fields=["namespace", "-start_ns"], name="trace_ns_start_idx"),
            # Trace search by job.
            models.Index(fields=["job", "-start_ns"], name="trace_job_start_idx"),
            # Lookup by trace id across the caller's namespaces.
            models.Index(fields=["trace_id"], name="trace_trace_id_idx"),
        ]

    def __str__(self) -> str:
        return self.trace_id


class TraceService(models.Model):
    """Per trace and service: serves "traces of service S in a window" without touching spans."""

    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="service_rows")
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="+")
    service = models.CharField(max_length=255)
    start_ns = models.BigIntegerField()  # the trace's start, copied for the index below
    span_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trace", "service"], name="traceservice_trace_service_uniq"),
        ]
        indexes = [
            # Trace search by service and time.
            models.Index(fields=["namespace", "service", "-start_ns"], name="traceservice_ns_svc_start_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.trace_id}: {self.service}"


class SpanLink(models.Model):
    """One row per span link, indexed by its target, so a trace page can list the spans that link *to* it."""

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="+")
    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    linked_trace_id = models.CharField(max_length=32)
    linked_span_id = models.CharField(max_length=16)
    # "link" (OTLP link), "follows_from" (Jaeger FOLLOWS_FROM), "child_of" (a reference into another trace)
    ref_type = models.CharField(max_length=16, default="link")
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "trace_id", "span_id", "linked_trace_id", "linked_span_id"],
                name="spanlink_uniq",
            ),
        ]
        indexes = [
            models.Index(fields=["namespace", "linked_trace_id", "linked_span_id"], name="spanlink_target_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.trace_id}/{self.span_id} -> {self.linked_trace_id}/{self.linked_span_id}"


# Log records (traces/logs/): a model of this app, registered by being imported here.
from traces.logs.models import LogRecord  # noqa: E402

__all__ = ["LogRecord", "Span", "SpanKind", "SpanLink", "StatusCode", "Trace", "TraceService"]
