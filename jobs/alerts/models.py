"""Alerts received from Alertmanager or Grafana, and the executions (and shards) each is linked to.

Models of the `jobs` app (app_label `jobs`, tables `jobs_alert`, `jobs_alertlink`): jobs/models.py imports them,
which is how Django registers them; the migrations stay in jobs/migrations/.
"""

from __future__ import annotations

from typing import ClassVar, Self

from django.db import models
from django.utils import timezone

from jobs.alerts.choices import AlertLinkReason, AlertSource, AlertStatus
from jobs.querysets import ScopedQuerySet


class AlertQuerySet(ScopedQuerySet):
    def firing(self) -> Self:
        return self.filter(status=AlertStatus.FIRING)


class Alert(models.Model):
    """An alert received from Alertmanager or Grafana, stored once per fingerprint and start time."""

    namespace = models.ForeignKey("jobs.Namespace", on_delete=models.CASCADE, related_name="alerts")
    source = models.CharField(max_length=16, choices=AlertSource.choices)
    fingerprint = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.FIRING)
    name = models.CharField(max_length=200, blank=True)  # labels["alertname"]
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    generator_url = models.URLField(max_length=2000, blank=True)
    receiver = models.CharField(max_length=200, blank=True)
    group_key = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    executions = models.ManyToManyField("jobs.Execution", through="AlertLink", related_name="alerts")

    objects: ClassVar[AlertQuerySet] = AlertQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "fingerprint", "starts_at"],
                name="alert_namespace_fingerprint_start_uniq",
            ),
        ]
        indexes = [
            models.Index(fields=["namespace", "status", "-starts_at"], name="alert_ns_status_idx"),
            models.Index(fields=["fingerprint"], name="alert_fingerprint_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.fingerprint} ({self.status})"


class AlertLink(models.Model):
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="links")
    execution = models.ForeignKey("jobs.Execution", on_delete=models.CASCADE, related_name="alert_links")
    shard = models.ForeignKey("jobs.Shard", on_delete=models.CASCADE, null=True, blank=True, related_name="alert_links")
    reason = models.CharField(max_length=16, choices=AlertLinkReason.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["alert", "execution"], name="alertlink_alert_execution_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.alert} -> {self.execution} ({self.reason})"
