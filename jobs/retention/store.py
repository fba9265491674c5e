"""The one write of a namespace's retention."""

from __future__ import annotations

from jobs.models import Namespace
from jobs.retention.ingest import Retention


def set_retention(namespace: Namespace, retention: Retention) -> None:
    namespace.span_retention_days = retention.span_days
    namespace.record_retention_days = retention.record_days
    namespace.save(update_fields=["span_retention_days", "record_retention_days"])
