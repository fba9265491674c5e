"""Store received alerts and link them to the executions (and shards) they are about.

`store_notification(notification, namespace)` is the one write path for both webhooks. An alert is stored once per
(namespace, fingerprint, starts_at): a repeated notification updates its labels and annotations, a `resolved` one
closes it (status and ends_at); a late `firing` for the same start never reopens a resolved alert (a new firing
has a new startsAt). Every query is scoped to the given namespace: an alert never links, or reveals, another
namespace's executions, whatever its labels say.

Linking rules (labels are read through their roles, see `label_roles`):

1. `execution_id` -> that execution (of `job`, when a job label is present); with `shard_id` too, that shard of it.
2. `shard_id` alone -> the shard(s) with that id (of `job`, when present) and their execution.
3. `trace_id` -> the execution or shard whose trace_id it is, or that span linking attached the trace to.
4. only `job` -> that job's executions that were running, failed or timed out within the alert's window:
   from startsAt minus `JOBTRACE_ALERT_WINDOW_MARGIN_SECONDS` to endsAt (or now while it fires).

A `namespace` label naming another namespace than the caller's links nothing (the alert is still stored).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from console.lookup import normalise_trace_id
from jobs.choices import AlertLinkReason, AlertStatus, RunStatus
from jobs.ingest.alerts import Notification, ParsedAlert
from jobs.models import Alert, AlertLink, Execution, Namespace, Shard

logger = logging.getLogger(__name__)

ROLES = ("job", "namespace", "execution_id", "shard_id", "trace_id")
# Label name -> role, in the order they are tried (configured aliases are tried before these).
DEFAULT_LABEL_ROLES: dict[str, str] = {
    "job": "job",
    "job_name": "job",
    "namespace": "namespace",
    "execution_id": "execution_id",
    "instance_id": "execution_id",
    "shard_id": "shard_id",
    "trace_id": "trace_id",
}
DEFAULT_WINDOW_MARGIN = timedelta(minutes=15)
# At most this many executions are linked to one alert by one rule (a noisy job alert must not link thousands).
MAX_LINKS_PER_RULE = 50
_WINDOW_STATUSES = (RunStatus.RUNNING, RunStatus.FAILED, RunStatus.TIMED_OUT)


def label_roles() -> dict[str, str]:
    """Label name -> role: settings.JOBTRACE_ALERT_LABEL_ALIASES ("label=role" pairs) first, then the defaults."""
    roles: dict[str, str] = {}
    for pair in getattr(settings, "JOBTRACE_ALERT_LABEL_ALIASES", []):
        label, sep, role = (part.strip() for part in pair.partition("="))
        if not sep or not label or role not in ROLES:
            raise ImproperlyConfigured(
                f"JOBTRACE_ALERT_LABEL_ALIASES entry {pair!r} must be 'label=role' with a role among {ROLES}"
            )
        roles[label] = role
    for label, role in DEFAULT_LABEL_ROLES.items():
        roles.setdefault(label, role)
    return roles


def roles_of(labels: dict[str, str]) -> dict[str, str]:
    """The job/namespace/execution/shard/trace an alert's labels name (first non-empty label per role)."""
    found: dict[str, str] = {}
    for label, role in label_roles().items():
        value = labels.get(label, "").strip()
        if value and role not in found:
            found[role] = value
    return found


def window_margin() -> timedelta:
    seconds = getattr(settings, "JOBTRACE_ALERT_WINDOW_MARGIN_SECONDS", None)
    return DEFAULT_WINDOW_MARGIN if seconds is None else timedelta(seconds=int(seconds))


@dataclass(frozen=True)
class Target:
    execution_pk: int
    shard_pk: int | None
    reason: str


@dataclass
class StoredAlert:
    """One received alert: the stored row (with `links` prefetched) and, when nothing was linked, why."""

    parsed: ParsedAlert
    alert: Alert
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
        links: list[AlertLink] = []
        for parsed in notification.alerts:
            key = (parsed.fingerprint, parsed.starts_at)
            targets, note = link_targets(parsed, namespace, now=now)
            if not targets and note:
                notes.setdefault(key, note)
            links.extend(
                AlertLink(alert_id=pks[key], execution_id=t.execution_pk, shard_id=t.shard_pk, reason=t.reason)
                for t in targets
            )
        if links:
            AlertLink.objects.bulk_create(links, ignore_conflicts=True)

    stored = {
        (a.fingerprint, a.starts_at): a
        for a in with_links(Alert.objects.in_namespaces([namespace.pk]).filter(pk__in=set(pks.values())))
    }
    result = StoreResult(truncated_alerts=notification.truncated_alerts)
    for parsed in notification.alerts:
        key = (parsed.fingerprint, parsed.starts_at)
        alert = stored[key]
        result.alerts.append(StoredAlert(parsed, alert, "" if alert.links.all() else notes.get(key, "")))
    return result


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


def _pks_by_key(namespace: Namespace, keys: Iterable[tuple[str, datetime]]) -> dict[tuple[str, datetime], int]:
    keys = list(keys)
    rows = Alert.objects.filter(
        namespace=namespace,
        fingerprint__in={fp for fp, _ in keys},
        starts_at__in={start for _, start in keys},
    ).values_list("fingerprint", "starts_at", "pk")
    found = {(fp, start): pk for fp, start, pk in rows}
    return {key: found[key] for key in keys}


def link_targets(parsed: ParsedAlert, namespace: Namespace, *, now: datetime) -> tuple[list[Target], str]:
    """What the alert's labels point at, within `namespace` only; and, when nothing, a sentence saying why."""
    roles = roles_of(parsed.labels)
    other_namespace = roles.get("namespace")
    if other_namespace and other_namespace != namespace.name:
        return [], (
            f"the namespace label names {other_namespace!r}, not {namespace.name!r} (the namespace this alert was "
            "posted to), so it was linked to nothing"
        )
    job = roles.get("job")
    execution_id = roles.get("execution_id")
    shard_id = roles.get("shard_id")
    raw_trace = roles.get("trace_id")
    if not any((job, execution_id, shard_id, raw_trace)):
        return [], "no label names a job, execution, shard or trace"

    executions = Execution.objects.in_namespaces([namespace.pk])
    shards = Shard.objects.in_namespaces([namespace.pk])
    if job:
        executions = executions.filter(job__name=job)
        shards = shards.filter(execution__job__name=job)
    targets: list[Target] = []

    if execution_id:
        found = list(executions.filter(execution_id=execution_id).values_list("pk", flat=True)[:MAX_LINKS_PER_RULE])
        shard_of: dict[int, int] = {}
        if shard_id and found:
            shard_of = dict(shards.filter(execution_id__in=found, shard_id=shard_id).values_list("execution_id", "pk"))
        for pk in found:
            shard_pk = shard_of.get(pk)
            reason = AlertLinkReason.SHARD_ID if shard_pk else AlertLinkReason.EXECUTION_ID
            targets.append(Target(pk, shard_pk, reason))
    elif shard_id:
        for execution_pk, shard_pk in shards.filter(shard_id=shard_id).values_list("execution_id", "pk")[
            :MAX_LINKS_PER_RULE
        ]:
            targets.append(Target(execution_pk, shard_pk, AlertLinkReason.SHARD_ID))

    if raw_trace:
        trace_id = normalise_trace_id(raw_trace)
        if trace_id:
            targets.extend(_trace_targets(trace_id, namespace, job))

    if job and not (execution_id or shard_id or raw_trace):
        start = parsed.starts_at - window_margin()
        end = parsed.ends_at or now
        in_window = (
            executions.filter(status__in=_WINDOW_STATUSES, started_at__lte=end)
            .filter(
                Q(finished_at__gte=start)
                | Q(finished_at__isnull=True, status=RunStatus.RUNNING)
                | Q(finished_at__isnull=True, started_at__gte=start)
            )
            .order_by("-started_at")
            .values_list("pk", flat=True)[:MAX_LINKS_PER_RULE]
        )
        targets.extend(Target(pk, None, AlertLinkReason.JOB_WINDOW) for pk in in_window)
        if not targets:
            return [], f"job {job!r} has no execution running or failed between {start:%Y-%m-%d %H:%M:%S}Z and " + (
                "now" if parsed.ends_at is None else f"{end:%Y-%m-%d %H:%M:%S}Z"
            )

    if not targets:
        named = ", ".join(f"{role}={value!r}" for role, value in roles.items())
        return [], f"no execution in {namespace.name!r} matches {named}"
    # One link per execution: the most specific reason (a shard) wins over a plain execution match.
    best: dict[int, Target] = {}
    for target in targets:
        if target.execution_pk not in best or (target.shard_pk and not best[target.execution_pk].shard_pk):
            best[target.execution_pk] = target
    return list(best.values()), ""


def _trace_targets(trace_id: str, namespace: Namespace, job: str | None) -> list[Target]:
    from traces.models import Trace

    executions = Execution.objects.in_namespaces([namespace.pk]).filter(trace_id=trace_id)
    shards = Shard.objects.in_namespaces([namespace.pk]).filter(trace_id=trace_id)
    # Span linking's result, re-checked against the namespace so a stray link can never cross it.
    traces = (
        Trace.objects.in_namespaces([namespace.pk])
        .filter(trace_id=trace_id, execution__namespace_id=namespace.pk)
        .filter(Q(shard__isnull=True) | Q(shard__namespace_id=namespace.pk))
    )
    if job:
        executions = executions.filter(job__name=job)
        shards = shards.filter(execution__job__name=job)
        traces = traces.filter(execution__job__name=job)
    targets = [
        Target(pk, None, AlertLinkReason.TRACE_ID)
        for pk in executions.values_list("pk", flat=True)[:MAX_LINKS_PER_RULE]
    ]
    targets += [
        Target(execution_pk, shard_pk, AlertLinkReason.TRACE_ID)
        for execution_pk, shard_pk in shards.values_list("execution_id", "pk")[:MAX_LINKS_PER_RULE]
    ]
    targets += [
        Target(execution_pk, shard_pk, AlertLinkReason.TRACE_ID)
        for execution_pk, shard_pk in traces.values_list("execution_id", "shard_id")[:MAX_LINKS_PER_RULE]
    ]
    return targets
