"""The demo's alerts: what an Alertmanager routed to Jobtrace would have sent about the demo's incidents, posted
through the real webhook (`POST /api/v1/alerts/alertmanager`, the namespace's token) as version-4 notifications
shaped like Alertmanager's own (../shared/fixtures/alertmanager/).

- payments/account-migration: JobExecutionFailed, firing, naming the run and the failing shard (acct-1000002);
- shop/nightly-export: JobRunSlow, firing, naming the slow run (over 15 s where it used to take under 5 s);
- shop/inventory-sync: JobExecutionFailed for the run that hit the warehouse timeout, resolved by the next run;
- payments/ledger-reconcile: JobExecutionFailed for the timed-out first attempt, resolved by its retry.

The incidents are read back from the database the demo just filled (the console it posts to runs on it), so the
alerts name the real execution ids and times.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests

from jobs.choices import FAILURE_STATUSES, RunStatus
from jobs.models import Execution, Shard

ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of a firing alert
WEBHOOK = "/api/v1/alerts/alertmanager"
EXTERNAL_URL = "http://alertmanager.demo:9093"


@dataclass(frozen=True)
class Incident:
    namespace: str
    alertname: str
    labels: dict[str, str]
    summary: str
    starts_at: datetime
    ends_at: datetime | None = None  # set: resolved

    def alert(self) -> dict[str, Any]:
        labels = {"alertname": self.alertname, "namespace": self.namespace, **self.labels}
        return {
            "status": "resolved" if self.ends_at else "firing",
            "labels": labels,
            "annotations": {
                "summary": self.summary,
                "console": f"/jobs/{self.namespace}/{labels['job']}/runs/{labels.get('execution_id', '')}/",
            },
            "startsAt": _rfc3339(self.starts_at),
            "endsAt": _rfc3339(self.ends_at) if self.ends_at else ZERO_TIME,
            "generatorURL": f"http://prometheus.demo:9090/graph?g0.expr={self.alertname}",
            "fingerprint": fingerprint(labels),
        }

    def notification(self) -> dict[str, Any]:
        alert = self.alert()
        group = {"alertname": self.alertname, "job": self.labels["job"]}
        return {
            "version": "4",
            "groupKey": "{}:{" + ", ".join(f'{k}="{v}"' for k, v in group.items()) + "}",
            "truncatedAlerts": 0,
            "status": alert["status"],
            "receiver": "jobtrace",
            "groupLabels": group,
            "commonLabels": alert["labels"],
            "commonAnnotations": alert["annotations"],
            "externalURL": EXTERNAL_URL,
            "alerts": [alert],
        }


def fingerprint(labels: dict[str, str]) -> str:
    """16 hex digits from the label set, as Alertmanager's fingerprints are (its own hash is FNV-64a; any stable
    hash of the sorted labels serves the demo)."""
    text = "\xff".join(f"{k}\xff{v}" for k, v in sorted(labels.items()))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _rfc3339(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _latest(job: str, **where: Any) -> Execution | None:
    return (
        Execution.objects.filter(job__name=job, **where)
        .select_related("job__namespace")
        .order_by("-started_at", "-id")
        .first()
    )


def incidents() -> list[Incident]:
    """The demo's incidents as alerts, from what the demo stored (an incident the scale did not produce is left out)."""
    found: list[Incident] = []
    minute = timedelta(minutes=1)
    migration = _latest("account-migration", status=RunStatus.FAILED)
    if migration is not None and migration.finished_at:
        shard = Shard.objects.filter(execution=migration, status__in=FAILURE_STATUSES).order_by("index").first()
        labels = {"job": "account-migration", "execution_id": migration.execution_id, "severity": "page"}
        if shard is not None:
            labels["shard_id"] = shard.shard_id
        found.append(
            Incident(
                "payments",
                "JobExecutionFailed",
                labels,
                f"account-migration run {migration.execution_id} failed"
                + (f": shard {shard.shard_id} ({shard.labels.get('account', '')})" if shard else ""),
                migration.finished_at + minute,
            )
        )
    slow = _latest("nightly-export", trigger="scheduled", status=RunStatus.SUCCEEDED)
    if slow is not None and slow.finished_at and (slow.duration_ms or 0) > 15_000:
        found.append(
            Incident(
                "shop",
                "JobRunSlow",
                {"job": "nightly-export", "execution_id": slow.execution_id, "severity": "warning"},
                f"nightly-export took {slow.duration_ms / 1000:.1f} s; it usually finishes in under 5 s",
                slow.finished_at + minute,
            )
        )
    for job, namespace in (("inventory-sync", "shop"), ("ledger-reconcile", "payments")):
        failed = _latest(job, status__in=FAILURE_STATUSES)
        if failed is None or not failed.finished_at:
            continue
        recovered = (
            Execution.objects.filter(job=failed.job, status=RunStatus.SUCCEEDED, started_at__gt=failed.started_at)
            .order_by("started_at")
            .first()
        )
        found.append(
            Incident(
                namespace,
                "JobExecutionFailed",
                {"job": job, "execution_id": failed.execution_id, "severity": "page"},
                f"{job} run {failed.execution_id} {failed.get_status_display().lower()}: {failed.error[:120]}",
                failed.finished_at + minute,
                ends_at=(recovered.finished_at or recovered.started_at) if recovered else None,
            )
        )
    return found


def send_alerts(
    base_url: str,
    tokens: dict[str, str],
    found: Iterable[Incident] | None = None,
    *,
    log: Callable[[str], None] = print,
    timeout: float = 30.0,
) -> list[str]:
    """POST each incident's notification to the console's Alertmanager webhook; returns the alert pages' URLs."""
    pages: list[str] = []
    for incident in incidents() if found is None else found:
        response = requests.post(
            f"{base_url.rstrip('/')}{WEBHOOK}",
            json=incident.notification(),
            headers={"Authorization": f"Bearer {tokens[incident.namespace]}"},
            timeout=timeout,
        )
        if response.status_code != 200:
            log(f"demo: the {incident.alertname} alert was refused ({response.status_code}): {response.text[:200]}")
            continue
        pages.extend(a["url"] for a in response.json().get("alerts", []))
    return pages
