"""Reading alerts with what they link to: the executions as plain values (webhook answers), or as loaded rows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, QuerySet

from console import links
from jobs.alerts.models import Alert, AlertLink


@dataclass(frozen=True)
class LinkedExecution:
    """One execution (and maybe shard) an alert is linked to, as plain values with its console URLs."""

    namespace: str
    job: str
    execution_id: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    shard_id: str | None
    reason: str

    @property
    def url(self) -> str:
        return links.execution_url(self.namespace, self.job, self.execution_id)

    @property
    def shard_url(self) -> str | None:
        if self.shard_id is None:
            return None
        return links.shard_url(self.namespace, self.job, self.execution_id, self.shard_id)


def linked_executions(alert_pks: Iterable[int]) -> dict[int, list[LinkedExecution]]:
    """Alert pk -> the executions linked to it, newest first, in one query."""
    rows = (
        AlertLink.objects.filter(alert_id__in=list(alert_pks))
        .order_by("alert_id", "-execution__started_at", "execution_id")
        .values_list(
            "alert_id",
            "execution__job__namespace__name",
            "execution__job__name",
            "execution__execution_id",
            "execution__status",
            "execution__started_at",
            "execution__finished_at",
            "shard__shard_id",
            "reason",
        )
    )
    found: dict[int, list[LinkedExecution]] = {}
    for alert_pk, *values in rows:
        found.setdefault(alert_pk, []).append(LinkedExecution(*values))
    return found


def with_links(alerts: QuerySet[Alert]) -> QuerySet[Alert]:
    """Alerts with their links, each link's execution, job, namespace and shard loaded (two queries)."""
    return alerts.prefetch_related(links_prefetch())


def links_prefetch() -> Prefetch:
    return Prefetch(
        "links",
        queryset=AlertLink.objects.select_related("execution__job__namespace", "shard").order_by(
            "-execution__started_at", "execution__pk"
        ),
    )
