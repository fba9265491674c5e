"""Alertmanager-shaped payloads for the alert tests (the real fixtures are used where their shape matters)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def alert(
    labels: dict[str, str],
    starts_at: datetime,
    *,
    status: str = "firing",
    ends_at: datetime | None = None,
    fingerprint: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": status,
        "labels": {"alertname": "JobFailed", **labels},
        "annotations": {"summary": "the job failed"},
        "startsAt": rfc3339(starts_at),
        "endsAt": rfc3339(ends_at) if ends_at else ZERO_TIME,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=job_failed",
    }
    if fingerprint:
        body["fingerprint"] = fingerprint
    body.update(extra)
    return body


def notification(*alerts: dict[str, Any], status: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": "4",
        "groupKey": '{}:{alertname="JobFailed"}',
        "truncatedAlerts": 0,
        "status": status or ("resolved" if all(a.get("status") == "resolved" for a in alerts) else "firing"),
        "receiver": "jobtrace",
        "groupLabels": {"alertname": "JobFailed"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }
    body.update(extra)
    return body
