"""What the monitor keeps per scheduled job (ScheduleState) and per condition it reports (Notice).

Imported by jobs/models.py so they belong to the jobs app (migrations in jobs/migrations/).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class NoticeKind(models.TextChoices):
    MISSED = "missed", "Missed"
    LATE = "late", "Late"
    STUCK = "stuck", "Stuck"


class ScheduleState(models.Model):
    """Where the monitor stands for one scheduled job: every tick up to `checked_until` is decided. A monitor takes
    the rows whose `due_at` has passed with SELECT ... FOR UPDATE SKIP LOCKED, so each tick is decided once."""

    job = models.OneToOneField("jobs.Job", on_delete=models.CASCADE, primary_key=True, related_name="schedule_state")
    checked_until = models.DateTimeField()
    due_at = models.DateTimeField()  # the next tick's grace end: nothing to decide before
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["due_at"], name="schedulestate_due_idx")]  # the monitor's "what is due"

    def __str__(self) -> str:
        return f"{self.job_id}: decided until {self.checked_until:%Y-%m-%d %H:%M:%S}"


class Notice(models.Model):
    """A missed tick, a late or a stuck run: sent to Alertmanager or the webhook while open (missed, stuck),
    resolved when a later run of the job succeeds (or the stuck run ends). Late ones are counted, not sent."""

    namespace = models.ForeignKey("jobs.Namespace", on_delete=models.CASCADE, related_name="notices")
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="notices")
    execution = models.ForeignKey("jobs.Execution", on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=8, choices=NoticeKind.choices)
    # The execution id as first sent (the alert's identity at Alertmanager): a late run that takes a missed tick's
    # place becomes `execution`, the label stays.
    sent_execution_id = models.CharField(max_length=128)
    tick = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["execution", "kind"], name="notice_execution_kind_uniq")]
        indexes = [
            # The notifier's "open or resolved but not yet said" and the overview's counts per namespace.
            models.Index(fields=["namespace", "kind", "-opened_at"], name="notice_ns_kind_idx"),
            models.Index(
                fields=["last_sent_at"], name="notice_unsent_idx", condition=models.Q(resolved_sent_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.sent_execution_id} ({'resolved' if self.resolved_at else 'open'})"
