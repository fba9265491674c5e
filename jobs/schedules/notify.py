"""Sending missed and stuck runs out: to Alertmanager's own API (`POST /api/v2/alerts`) and/or a webhook.

Alertmanager: one alert per notice, labelled so the console's Alertmanager webhook links it back (`namespace`,
`job`, `execution_id`), re-posted every JOBTRACE_MONITOR_RESEND_SECONDS while open with `endsAt` a few resends
ahead (Alertmanager keeps it firing), and posted once more with `endsAt` = the resolution time when a later run
succeeded. The webhook (JOBTRACE_SCHEDULE_WEBHOOK_URL) receives the same as JSON (docs/api.md "Schedule
notifications"): `{"version": 1, "notices": [{...}]}`.

Notices to send are taken with SELECT ... FOR UPDATE SKIP LOCKED, so two monitors never send the same one at once.
A failed send is logged and retried at the next check; nothing is marked sent that was not.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q

from console import links
from jobs.choices import RunStatus
from jobs.models import Execution
from jobs.schedules.models import Notice, NoticeKind

logger = logging.getLogger("jobtrace.monitor")

ALERTNAMES = {NoticeKind.MISSED: "JobRunMissed", NoticeKind.STUCK: "JobRunStuck"}
TIMEOUT = 5.0


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _url(path: str) -> str:
    return settings.JOBTRACE_PUBLIC_URL + path


def notice_body(notice: Notice, last_success: Execution | None) -> dict[str, Any]:
    job = notice.job
    ns = job.namespace.name
    body: dict[str, Any] = {
        "kind": notice.kind,
        "status": "resolved" if notice.resolved_at else "firing",
        "namespace": ns,
        "job": job.name,
        "execution_id": notice.sent_execution_id,
        "tick": _iso(notice.tick) if notice.tick else None,
        "opened_at": _iso(notice.opened_at),
        "resolved_at": _iso(notice.resolved_at) if notice.resolved_at else None,
        "url": _url(links.execution_url(ns, job.name, notice.execution.execution_id)),
        "job_url": _url(links.job_url(ns, job.name)),
        "last_success": None,
    }
    if last_success is not None:
        body["last_success"] = {
            "execution_id": last_success.execution_id,
            "started_at": _iso(last_success.started_at) if last_success.started_at else None,
            "url": _url(links.execution_url(ns, job.name, last_success.execution_id)),
            "trace_url": _url(links.trace_url(last_success.trace_id)) if last_success.trace_id else None,
        }
    return body


def alertmanager_alert(body: dict[str, Any], notice: Notice, now: datetime, resend: timedelta) -> dict[str, Any]:
    what = "did not start" if notice.kind == NoticeKind.MISSED else "is still running past its maximum run time"
    summary = f"{body['namespace']}/{body['job']}: the run due at {body['tick']} {what}"
    annotations = {"summary": summary, "description": summary}
    if body["last_success"]:
        annotations["last_success"] = body["last_success"]["url"]
    return {
        "labels": {
            "alertname": ALERTNAMES[NoticeKind(notice.kind)],
            "namespace": body["namespace"],
            "job": body["job"],
            "execution_id": body["execution_id"],
            "severity": "warning",
        },
        "annotations": annotations,
        "startsAt": body["opened_at"],
        "endsAt": body["resolved_at"] or _iso(now + 4 * resend),
        "generatorURL": body["url"],
    }


def send_due(now: datetime) -> int:
    """Send what is due; returns how many notices were sent. Nothing to send without a destination."""
    am_url, hook_url = settings.JOBTRACE_ALERTMANAGER_URL, settings.JOBTRACE_SCHEDULE_WEBHOOK_URL
    if not am_url and not hook_url:
        return 0
    resend = timedelta(seconds=settings.JOBTRACE_MONITOR_RESEND_SECONDS)
    with transaction.atomic():
        due = list(
            Notice.objects.filter(kind__in=[NoticeKind.MISSED, NoticeKind.STUCK], resolved_sent_at__isnull=True)
            .filter(Q(last_sent_at__isnull=True) | Q(last_sent_at__lte=now - resend) | Q(resolved_at__isnull=False))
            .select_related("job__namespace", "execution")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("id")[:500]
        )
        if not due:
            return 0
        latest = dict(
            Execution.objects.filter(job_id__in={n.job_id for n in due}, status=RunStatus.SUCCEEDED)
            .values("job_id")
            .annotate(m=Max("id"))
            .values_list("job_id", "m")
        )
        successes = {e.job_id: e for e in Execution.objects.filter(pk__in=latest.values())}
        bodies = [notice_body(n, successes.get(n.job_id)) for n in due]
        try:
            if am_url:
                alerts = [alertmanager_alert(b, n, now, resend) for b, n in zip(bodies, due, strict=True)]
                requests.post(f"{am_url}/api/v2/alerts", json=alerts, timeout=TIMEOUT).raise_for_status()
            if hook_url:
                requests.post(hook_url, json={"version": 1, "notices": bodies}, timeout=TIMEOUT).raise_for_status()
        except requests.RequestException as exc:
            logger.warning("monitor: could not send %d notices: %s (retried at the next check)", len(due), exc)
            return 0
        for n in due:
            n.last_sent_at = now
            if n.resolved_at is not None:
                n.resolved_sent_at = now
        Notice.objects.bulk_update(due, ["last_sent_at", "resolved_sent_at"])
        return len(due)
