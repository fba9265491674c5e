"""Message envelopes: who caused what across a queue.

A model of the `jobs` app (app_label `jobs`, table `jobs_message`): jobs/models.py imports it, which is how Django
registers it; the migrations stay in jobs/migrations/.
"""

from __future__ import annotations

from typing import ClassVar, Self

from django.db import models
from django.db.models import Q
from django.utils import timezone

from jobs.causality.choices import MessagingOperation
from jobs.querysets import ScopedQuerySet


class MessageQuerySet(ScopedQuerySet):
    def in_workflow(self, correlation_id: str) -> Self:
        return self.filter(correlation_id=correlation_id)


class Message(models.Model):
    """An asynchronous envelope: who caused what across a queue (see DESIGN.md identity rules)."""

    namespace = models.ForeignKey("jobs.Namespace", on_delete=models.CASCADE, related_name="messages")
    message_id = models.CharField(max_length=200)
    correlation_id = models.CharField(max_length=200, blank=True)
    causation_id = models.CharField(max_length=200, blank=True)
    trace_id = models.CharField(max_length=32, blank=True)
    span_id = models.CharField(max_length=16, blank=True)
    tenant_id = models.CharField(max_length=200, blank=True)
    event_type = models.CharField(max_length=200, blank=True)
    # The business operation (`checkout`), free text as in an execution's envelope.
    operation = models.CharField(max_length=100, blank=True)
    # What was done with the message: OpenTelemetry's messaging.operation.type.
    messaging_operation = models.CharField(max_length=16, choices=MessagingOperation.choices, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    consumed_at = models.DateTimeField(null=True, blank=True)
    producer_service = models.CharField(max_length=200, blank=True)
    consumer_service = models.CharField(max_length=200, blank=True)
    # Where the envelope was learnt from: "api", "execution", "span".
    source = models.CharField(max_length=16, default="api")
    received_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[MessageQuerySet] = MessageQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["published_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "message_id"], name="message_namespace_message_id_uniq"),
        ]
        indexes = [
            # Correlation page and GET /api/v1/messages?correlation_id=
            models.Index(fields=["namespace", "correlation_id"], name="message_correlation_idx"),
            # Walking "caused" forward: messages whose causation_id is a given id.
            models.Index(fields=["namespace", "causation_id"], name="message_causation_idx"),
            models.Index(fields=["trace_id"], name="message_trace_idx", condition=~Q(trace_id="")),
        ]

    def __str__(self) -> str:
        return f"{self.event_type or 'message'} {self.message_id}"
