"""Factories for the causality tests: messages and spans as rows, and a small async workflow."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from jobs.models import Message, Namespace
from tests import factories
from traces.models import Span, SpanKind, Trace

_seq = itertools.count(1)


def message(ns: Namespace, message_id: str | None = None, **fields: Any) -> Message:
    return Message.objects.create(namespace=ns, message_id=message_id or f"msg-{next(_seq)}", **fields)


def ns_time(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000_000)


def span(ns: Namespace, trace_id: str | None = None, **fields: Any) -> Span:
    started: datetime = fields.pop("started", timezone.now() - timedelta(minutes=10))
    defaults: dict[str, Any] = {
        "span_id": factories.span_id(),
        "name": "work",
        "service": "svc",
        "start_ns": ns_time(started),
        "duration_ns": 1_000_000,
    }
    defaults.update(fields)
    return Span.objects.create(namespace=ns, trace_id=trace_id or factories.trace_id(), **defaults)


def trace_summary(
    ns: Namespace, trace_id: str, service: str = "shop-api", name: str = "POST /orders", **f: Any
) -> Trace:
    started: datetime = f.pop("started", timezone.now() - timedelta(hours=1))
    return Trace.objects.create(
        namespace=ns,
        trace_id=trace_id,
        root_service=service,
        root_name=name,
        start_ns=ns_time(started),
        duration_ns=50_000_000,
        span_count=1,
        services=[service],
        **f,
    )


PRODUCER = SpanKind.PRODUCER
CONSUMER = SpanKind.CONSUMER
