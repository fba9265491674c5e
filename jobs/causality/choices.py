"""What a message envelope says was done with the message (OpenTelemetry's messaging operation names)."""

from __future__ import annotations

from django.db import models


class MessageOperation(models.TextChoices):
    PUBLISH = "publish", "Publish"
    RECEIVE = "receive", "Receive"
    PROCESS = "process", "Process"
    REQUEST = "request", "Request"
