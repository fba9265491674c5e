"""Store received alerts and link them: `store_notification(notification, namespace)`, the one write path for both
webhooks.

An alert is stored once per (namespace, fingerprint, starts_at): a repeated notification updates its labels and
annotations, a `resolved` one closes it (status and ends_at); a late `firing` for the same start never reopens a
resolved alert (a new firing has a new startsAt). What each alert links to is decided by jobs/alerts/linking.py,
scoped to the given namespace: an alert never links, or reveals, another namespace's executions, whatever its
labels say.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from jobs.alerts.choices import AlertStatus
from jobs.alerts.ingest import Notification, ParsedAlert
from jobs.alerts.linking import Linker
from jobs.alerts.models import Alert, AlertLink
from jobs.alerts.queries import LinkedExecution, linked_executions
from jobs.models import Namespace

logger = logging.getLogger("jobs.alerts")


@dataclass
class StoredAlert:
    """One received alert: the stored row, every execution it is linked to, and, when none, why."""

    parsed: ParsedAlert
    alert: Alert
    executions: list[LinkedExecution] = field(default_factory=list)
    note: str = ""


@dataclass
class StoreResult:
    alerts: list[StoredAlert] = field(default_factory=list)
    truncated_alerts: int = 0


def store_notification(notification: Notification, namespace: Namespace, *, now: datetime | None = None) -> StoreResult:
    """Upsert every alert of the notification into `namespace` and link it. Atomic: all or nothing."""
    now = now or timezone.now()
    if notification.truncated_alerts:
        logger.warning(
            "%s notification for %s (group %s) left out %d alerts (max_alerts); only the %d sent were stored",
            notification.source,
            namespace.name,
            notification.group_key,
            notification.truncated_alerts,
            len(notification.alerts),
        )
    # One row per (fingerprint, starts_at); when a notification repeats an alert, the last copy wins.
    latest: dict[tuple[str, datetime], ParsedAlert] = {}
    for parsed in notification.alerts:
        latest[(parsed.fingerprint, parsed.starts_at)] = parsed

    with transaction.atomic():
        rows = [
            Alert(
                namespace=namespace,
                source=notification.source,
                fingerprint=parsed.fingerprint,
                status=parsed.status,
                name=parsed.name[:200],
                labels=parsed.labels,
                annotations=parsed.annotations,
                starts_at=parsed.starts_at,
                ends_at=parsed.ends_at,
                generator_url=parsed.generator_url,
                receiver=notification.receiver[:200],
                group_key=notification.group_key,
                received_at=now,
                updated_at=now,
            )
            for parsed in latest.values()
        ]
        Alert.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["namespace", "fingerprint", "starts_at"],
            update_fields=[
                "source",
                "name",
                "labels",
                "annotations",
                "generator_url",
                "receiver",
                "group_key",
                "updated_at",
            ],
        )
        pks = _pks_by_key(namespace, latest)
        # Close resolved alerts (one UPDATE per distinct end time); firing repeats leave the status alone.
        ends: dict[datetime | None, list[int]] = {}
        for key, parsed in latest.items():
            if parsed.status == AlertStatus.RESOLVED:
                ends.setdefault(parsed.ends_at or now, []).append(pks[key])
        for ends_at, ids in ends.items():
            Alert.objects.filter(pk__in=ids).update(status=AlertStatus.RESOLVED, ends_at=ends_at, updated_at=now)

        notes: dict[tuple[str, datetime], str] = {}
        new_links: list[AlertLink] = []
        linker = Linker(namespace, notification.alerts, now=now)
        for parsed in notification.alerts:
            key = (parsed.fingerprint, parsed.starts_at)
            targets, note = linker.targets(parsed)
            if not targets and note:
                notes.setdefault(key, note)
            new_links.extend(
                AlertLink(alert_id=pks[key], execution_id=t.execution_pk, shard_id=t.shard_pk, reason=t.reason)
                for t in targets
            )
        if new_links:
            AlertLink.objects.bulk_create(new_links, ignore_conflicts=True)

    # Read back as plain values (two queries): a notification may link thousands of executions.
    ids = set(pks.values())
    stored = {(a.fingerprint, a.starts_at): a for a in Alert.objects.in_namespaces([namespace.pk]).filter(pk__in=ids)}
    linked = linked_executions(ids)
    result = StoreResult(truncated_alerts=notification.truncated_alerts)
    for parsed in notification.alerts:
        key = (parsed.fingerprint, parsed.starts_at)
        alert = stored[key]
        executions = linked.get(alert.pk, [])
        result.alerts.append(StoredAlert(parsed, alert, executions, "" if executions else notes.get(key, "")))
    return result


def _pks_by_key(namespace: Namespace, keys: Iterable[tuple[str, datetime]]) -> dict[tuple[str, datetime], int]:
    keys = list(keys)
    rows = Alert.objects.filter(
        namespace=namespace,
        fingerprint__in={fp for fp, _ in keys},
        starts_at__in={start for _, start in keys},
    ).values_list("fingerprint", "starts_at", "pk")
    found = {(fp, start): pk for fp, start, pk in rows}
    return {key: found[key] for key in keys}
