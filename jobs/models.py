"""The jobs app's models: namespaces, memberships, API tokens, jobs, executions and shards here; the models a
feature owns in its package (jobs/alerts/models.py, jobs/causality/models.py), imported here so that Django
registers them with this app (app_label `jobs`, migrations in jobs/migrations/).

Every record belongs to exactly one namespace (the tenant boundary). Reads go through the QuerySets in
`jobs/querysets.py`, which scope by namespace; writes go through each resource's store module (jobs/store.py,
jobs/<feature>/store.py), never through views.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from jobs.alerts.models import Alert, AlertLink
from jobs.causality.models import Message
from jobs.choices import JobKind, Role, RunStatus, Scope, Trigger
from jobs.querysets import ExecutionQuerySet, JobQuerySet, NamespaceQuerySet, ShardQuerySet
from jobs.schedules.models import Notice, ScheduleState

__all__ = [
    "Alert",
    "AlertLink",
    "ApiToken",
    "Execution",
    "Job",
    "Membership",
    "Message",
    "Namespace",
    "Notice",
    "ScheduleState",
    "Shard",
]


class Namespace(models.Model):
    """The tenant boundary: a team or an app group. Users and tokens are granted namespaces."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Retention (jobs/retention/): days spans (and logs) are kept, days executions, shards, messages, alerts and
    # trace summaries are kept. Empty: the site default (JOBTRACE_SPAN_RETENTION_DAYS, JOBTRACE_RECORD_RETENTION_DAYS).
    span_retention_days = models.PositiveIntegerField(null=True, blank=True)
    record_retention_days = models.PositiveIntegerField(null=True, blank=True)

    objects: ClassVar[NamespaceQuerySet] = NamespaceQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def span_retention(self) -> int:
        """Days this namespace's spans and logs are kept (its own setting, else the site default)."""
        return self.span_retention_days or settings.JOBTRACE_SPAN_RETENTION_DAYS

    @property
    def record_retention(self) -> int:
        """Days this namespace's executions, shards, messages, alerts and trace summaries are kept."""
        return self.record_retention_days or settings.JOBTRACE_RECORD_RETENTION_DAYS


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "namespace"], name="membership_user_namespace_uniq")]

    def __str__(self) -> str:
        return f"{self.user} in {self.namespace} ({self.role})"


class ApiToken(models.Model):
    """A bearer token for one namespace. Only its SHA-256 digest is stored; the token is shown once."""

    PREFIX = "jt_"

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, blank=True)
    # The first characters of the token, to recognise it in lists without storing it.
    hint = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)  # a list of Scope values
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["namespace", "-created_at"]

    def __str__(self) -> str:
        return f"{self.hint}… ({self.namespace}: {','.join(self.scopes)})"

    @staticmethod
    def digest_of(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(cls, namespace: Namespace, scopes: list[str], name: str = "") -> tuple[ApiToken, str]:
        """Create a token and return it with its raw value, which is not kept anywhere."""
        unknown = set(scopes) - set(Scope.values)
        if unknown or not scopes:
            raise ValueError(f"scopes must be a non-empty subset of {sorted(Scope.values)}, not {scopes}")
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            namespace=namespace,
            name=name,
            hint=raw[:10],
            digest=cls.digest_of(raw),
            scopes=sorted(set(scopes)),
        )
        return token, raw

    def has_scope(self, scope: str) -> bool:
        return self.revoked_at is None and scope in self.scopes


class Job(models.Model):
    """A named, scheduled unit of work in a namespace."""

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="jobs")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=JobKind.choices, default=JobKind.STANDALONE)
    schedule = models.CharField(max_length=200, blank=True, help_text="cron expression or interval")
    owner = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    labels = models.JSONField(default=dict, blank=True)
    # Sampling policy: manual runs are always sampled; scheduled (and other) runs at this rate, 0..1.
    sample_rate = models.FloatField(default=1.0)
    sampling_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # The schedule's declaration (jobs/schedules/): its IANA zone, how late a run may start, how long it may run.
    # Declared after created_at: the name `timezone` shadows django.utils.timezone in the class body.
    timezone = models.CharField(max_length=64, default="UTC")
    grace_seconds = models.PositiveIntegerField(default=300)
    max_runtime_seconds = models.PositiveIntegerField(null=True, blank=True)

    objects: ClassVar[JobQuerySet] = JobQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["namespace", "name"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], name="job_namespace_name_uniq"),
            models.CheckConstraint(condition=Q(sample_rate__gte=0) & Q(sample_rate__lte=1), name="job_sample_rate_0_1"),
        ]

    def __str__(self) -> str:
        return f"{self.namespace_id}/{self.name}"


class Execution(models.Model):
    """One run of a job (a job instance), keyed by the scheduler's own execution id."""

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="executions")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="executions")
    execution_id = models.CharField(max_length=128)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.SCHEDULED)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # finished_at - started_at in ms, kept by the one write path so lists can sort and chart durations cheaply.
    duration_ms = models.BigIntegerField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    worker = models.CharField(max_length=200, blank=True)
    params = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    trace_id = models.CharField(max_length=32, blank=True)
    sampled = models.BooleanField(null=True, blank=True, help_text="null: the reporter did not say")
    # The trigger envelope, when a message caused this execution.
    message_id = models.CharField(max_length=200, blank=True)
    correlation_id = models.CharField(max_length=200, blank=True)
    causation_id = models.CharField(max_length=200, blank=True)
    envelope_trace_id = models.CharField(max_length=32, blank=True)
    tenant_id = models.CharField(max_length=200, blank=True)
    event_type = models.CharField(max_length=200, blank=True)
    operation = models.CharField(max_length=100, blank=True)
    # True while only shards (or spans) have named this execution and its own record has not arrived.
    placeholder = models.BooleanField(default=False)
    received_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[ExecutionQuerySet] = ExecutionQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "execution_id"], name="execution_job_execution_id_uniq"),
            models.CheckConstraint(condition=Q(attempt__gte=1), name="execution_attempt_positive"),
        ]
        indexes = [
            # Job page and job API: a job's runs, newest first.
            models.Index(fields=["job", "-started_at"], name="execution_job_started_idx"),
            # Overview "failing now / running now" and status filters.
            models.Index(fields=["namespace", "status", "-started_at"], name="execution_ns_status_idx"),
            # Linking spans and lookup by trace id.
            models.Index(fields=["trace_id"], name="execution_trace_idx", condition=~Q(trace_id="")),
            # Lookup by correlation id / message id, and the correlation page.
            models.Index(
                fields=["namespace", "correlation_id"],
                name="execution_correlation_idx",
                condition=~Q(correlation_id=""),
            ),
            models.Index(fields=["namespace", "message_id"], name="execution_message_idx", condition=~Q(message_id="")),
            # Lookup by execution id across jobs.
            models.Index(fields=["execution_id"], name="execution_execution_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.job} #{self.execution_id}"

    @property
    def status_choice(self) -> RunStatus:
        return RunStatus(self.status)


class Shard(models.Model):
    """A sub-task of an execution; may nest (map -> sub-shards) through `parent_shard_id`."""

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="shards")
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="shards")
    shard_id = models.CharField(max_length=128)
    # The parent's shard_id within the same execution (kept as sent, so a child may arrive before its parent).
    parent_shard_id = models.CharField(max_length=128, blank=True)
    index = models.IntegerField(null=True, blank=True)
    labels = models.JSONField(default=dict, blank=True)  # business labels, e.g. {"account": "1000002"}
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    worker = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.BigIntegerField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    error = models.TextField(blank=True)
    trace_id = models.CharField(max_length=32, blank=True)
    span_id = models.CharField(max_length=16, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[ShardQuerySet] = ShardQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["execution", "index", "shard_id"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "shard_id"], name="shard_execution_shard_id_uniq"),
            models.CheckConstraint(condition=Q(attempt__gte=1), name="shard_attempt_positive"),
        ]
        indexes = [
            # Execution page: shards by status (counts and the failing-first list).
            models.Index(fields=["execution", "status"], name="shard_execution_status_idx"),
            models.Index(fields=["execution", "index"], name="shard_execution_index_idx"),
            # Linking spans to shards and lookup by trace id.
            models.Index(fields=["trace_id"], name="shard_trace_idx", condition=~Q(trace_id="")),
            # Lookup by shard id.
            models.Index(fields=["shard_id"], name="shard_shard_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.execution} / {self.shard_id}"
