"""Alert status, source and link-reason values."""

from __future__ import annotations

from django.db import models


class AlertStatus(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class AlertSource(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Alertmanager"
    GRAFANA = "grafana", "Grafana"


class AlertLinkReason(models.TextChoices):
    EXECUTION_ID = "execution_id", "Execution id in labels"
    SHARD_ID = "shard_id", "Shard id in labels"
    TRACE_ID = "trace_id", "Trace id in labels"
    JOB_WINDOW = "job_window", "Job run within the alert's window"
