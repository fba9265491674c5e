"""The log record as received (OTLP's LogRecord), with the owner linking gave it.

Times are integer nanoseconds since the Unix epoch, as OTLP sends them. `time_ns` is the column every read orders
and ranges by (and the one to partition by): the record's `time_unix_nano`, or its `observed_time_unix_nano` when the
producer did not set one (OTLP allows 0: "unknown"), or the receive time when neither is set. Both times are also
kept exactly as sent.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from jobs.models import Execution, Job, Namespace, Shard
from traces import partitions
from traces.fields import AnyValueField, JSONTextField


class LogRecordQuerySet(models.QuerySet):
    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> Any:
        """The days of these records have a partition first (PostgreSQL; traces/partitions.py)."""
        objs = list(objs)
        partitions.ensure_for_values(partitions.LOGS, [o.time_ns for o in objs])
        return super().bulk_create(objs, *args, **kwargs)


class LogRecord(models.Model):
    # As Span: no index or database constraint of its own on the namespace (the writer sets it from the token).
    namespace = models.ForeignKey(
        Namespace, on_delete=models.CASCADE, related_name="log_records", db_index=False, db_constraint=False
    )
    # A stable hash of the record as sent (traces/logs/ingest.py, `record_hash`): an exporter's retry of the same
    # batch inserts nothing (ON CONFLICT DO NOTHING on the unique key below).
    record_hash = models.CharField(max_length=32)
    time_ns = models.BigIntegerField()  # the ordering time (see the module docstring)
    time_unix_nano = models.BigIntegerField(default=0)  # as sent; 0 = unknown
    observed_time_unix_nano = models.BigIntegerField(default=0)  # as sent; 0 = unknown
    severity_number = models.SmallIntegerField(default=0)  # OTLP SeverityNumber, 0-24
    severity_text = models.CharField(max_length=64, blank=True)
    body = AnyValueField(null=True, blank=True)  # any AnyValue decoded to JSON (string, number, map, array), or null
    # What text search reads: a string body as is, any other body as its JSON text (the first BODY_TEXT_CHARS).
    body_text = models.TextField(blank=True)
    attributes = JSONTextField(default=dict)
    resource = JSONTextField(default=dict)
    scope = JSONTextField(default=dict)  # {"name", "version", "attributes"}
    service = models.CharField(max_length=255)
    trace_id = models.CharField(max_length=32, blank=True)
    span_id = models.CharField(max_length=16, blank=True)
    flags = models.PositiveIntegerField(default=0)
    event_name = models.TextField(blank=True)
    dropped_attributes_count = models.PositiveIntegerField(default=0)
    # job.* attributes of the record or its resource (or a configured alias), as on Span.
    job_namespace = models.CharField(max_length=200, blank=True)
    job_name = models.CharField(max_length=200, blank=True)
    job_execution_id = models.CharField(max_length=128, blank=True)
    job_shard_id = models.CharField(max_length=128, blank=True)
    # Linking result (traces/logs/linking.py), job denormalised for search by job. No single-column index of their
    # own (db_index=False): the partial (owner, time_ns) indexes below answer every read by owner, and Django's
    # SET_NULL on delete (`owner_id IN (...)`), while a plain index would add an entry, NULL or not, to every record
    # stored (measured, the three together: the decode-plus-COPY ceiling's CPU per record 62 → 57 µs, alternating
    # runs on the shared 2 cores, so ±5 µs).
    execution = models.ForeignKey(
        Execution,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="log_records",
        db_constraint=False,
        db_index=False,
    )
    shard = models.ForeignKey(
        Shard,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="log_records",
        db_constraint=False,
        db_index=False,
    )
    job = models.ForeignKey(
        Job,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="log_records",
        db_constraint=False,
        db_index=False,
    )
    received_at = models.DateTimeField(default=timezone.now)

    objects = LogRecordQuerySet.as_manager()

    class Meta:
        ordering = ["time_ns", "id"]
        constraints = [
            # The retry guard, and the namespace's time-ordered index in one: (namespace, time) first, so inserts
            # land at the index's right edge instead of at random hash positions (measured: ~8 µs of PostgreSQL CPU
            # per record less than a (namespace, hash) key beside a (namespace, time) index), and a table
            # partitioned by time can keep it (a partitioned table's unique keys must hold the partition column).
            models.UniqueConstraint(fields=["namespace", "time_ns", "record_hash"], name="logrecord_ns_time_hash_uniq"),
        ]
        indexes = [
            # Every read is time-ordered within its scope, so one run's log is one index range.
            models.Index(fields=["job", "time_ns"], name="logrecord_job_time_idx", condition=Q(job__isnull=False)),
            models.Index(
                fields=["execution", "time_ns"],
                name="logrecord_exec_time_idx",
                condition=Q(execution__isnull=False),
            ),
            models.Index(
                fields=["shard", "time_ns"], name="logrecord_shard_time_idx", condition=Q(shard__isnull=False)
            ),
            # Linking and a span's logs: the records of a trace (and span).
            models.Index(
                fields=["namespace", "trace_id", "span_id"], name="logrecord_trace_idx", condition=~Q(trace_id="")
            ),
            # Linking by attributes, when the execution or shard arrives after its logs.
            models.Index(
                fields=["namespace", "job_execution_id"],
                name="logrecord_job_exec_idx",
                condition=~Q(job_execution_id=""),
            ),
            models.Index(
                fields=["namespace", "job_shard_id"], name="logrecord_job_shard_idx", condition=~Q(job_shard_id="")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.severity_text or self.severity_number}: {self.body_text[:80]}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Not the ingest path (traces/logs/store.py, which creates a missing day itself): the ORM's single writes.
        partitions.ensure_for_values(partitions.LOGS, [self.time_ns])
        super().save(*args, **kwargs)


@models.TextField.register_lookup
class ILike(models.Lookup):
    """`body_text__ilike=pattern`: a case-insensitive LIKE the trigram index serves (PostgreSQL `ILIKE`; Django's
    `icontains` writes `UPPER(col) LIKE UPPER(...)`, which that index cannot answer). The pattern is the caller's,
    its `%`, `_` and `\\` escaped with a backslash (traces/logs/queries.py)."""

    lookup_name = "ilike"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} LIKE {rhs} ESCAPE '\\'", [*lhs_params, *rhs_params]  # SQLite: LIKE ignores ASCII case

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]


@models.TextField.register_lookup
class ILikeRecheck(ILike):
    """`body_text__ilike_recheck=pattern`: the same test, which the trigram index does not answer (PostgreSQL: on
    `body_text || ''`), for a pattern checked on the rows an index probe for a narrower one returned
    (traces/logs/queries.py, `page`)."""

    lookup_name = "ilike_recheck"

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"({lhs} || '') ILIKE {rhs}", [*lhs_params, *rhs_params]
