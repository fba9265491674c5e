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

from console import links
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
    return timedelta(seconds=settings.JOBTRACE_ALERT_WINDOW_MARGIN_SECONDS)


@dataclass(frozen=True)
class Target:
    execution_pk: int
    shard_pk: int | None
    reason: str


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


def _pks_by_key(namespace: Namespace, keys: Iterable[tuple[str, datetime]]) -> dict[tuple[str, datetime], int]:
    keys = list(keys)
    rows = Alert.objects.filter(
        namespace=namespace,
        fingerprint__in={fp for fp, _ in keys},
        starts_at__in={start for _, start in keys},
    ).values_list("fingerprint", "starts_at", "pk")
    found = {(fp, start): pk for fp, start, pk in rows}
    return {key: found[key] for key in keys}


class Linker:
    """Finds what the alerts of one notification point at, with a few queries for the whole notification (ids are
    fetched in bulk, job windows once per job and window) rather than a few per alert. Scoped to one namespace."""

    def __init__(self, namespace: Namespace, alerts: Iterable[ParsedAlert], *, now: datetime) -> None:
        from traces.models import Trace

        self.namespace = namespace
        self.now = now
        self._windows: dict[tuple[str, datetime, datetime], list[int]] = {}
        roles = [roles_of(alert.labels) for alert in alerts]
        execution_ids = {r["execution_id"] for r in roles if "execution_id" in r}
        shard_ids = {r["shard_id"] for r in roles if "shard_id" in r}
        trace_ids = {t for r in roles if (t := normalise_trace_id(r.get("trace_id", "")))}
        scope = [namespace.pk]

        # execution_id -> [(execution pk, job name)]
        self.executions: dict[str, list[tuple[int, str]]] = {}
        if execution_ids:
            for execution_id, pk, job in (
                Execution.objects.in_namespaces(scope)
                .filter(execution_id__in=execution_ids)
                .values_list("execution_id", "pk", "job__name")
            ):
                self.executions.setdefault(execution_id, []).append((pk, job))
        # shard_id -> [(shard pk, execution pk, job name)]
        self.shards: dict[str, list[tuple[int, int, str]]] = {}
        if shard_ids:
            for shard_id, pk, execution_pk, job in (
                Shard.objects.in_namespaces(scope)
                .filter(shard_id__in=shard_ids)
                .values_list("shard_id", "pk", "execution_id", "execution__job__name")
            ):
                self.shards.setdefault(shard_id, []).append((pk, execution_pk, job))
        # trace_id -> [(execution pk, shard pk or None, job name)]: executions', shards' and span linking's traces
        self.traces: dict[str, list[tuple[int, int | None, str]]] = {}
        if trace_ids:
            for trace_id, pk, job in (
                Execution.objects.in_namespaces(scope)
                .filter(trace_id__in=trace_ids)
                .values_list("trace_id", "pk", "job__name")
            ):
                self.traces.setdefault(trace_id, []).append((pk, None, job))
            for trace_id, pk, execution_pk, job in (
                Shard.objects.in_namespaces(scope)
                .filter(trace_id__in=trace_ids)
                .values_list("trace_id", "pk", "execution_id", "execution__job__name")
            ):
                self.traces.setdefault(trace_id, []).append((execution_pk, pk, job))
            # Span linking's result, re-checked against the namespace so a stray link can never cross it.
            linked = (
                Trace.objects.in_namespaces(scope)
                .filter(trace_id__in=trace_ids, execution__namespace_id=namespace.pk)
                .filter(Q(shard__isnull=True) | Q(shard__namespace_id=namespace.pk))
                .values_list("trace_id", "execution_id", "shard_id", "execution__job__name")
            )
            for trace_id, execution_pk, shard_pk, job in linked:
                self.traces.setdefault(trace_id, []).append((execution_pk, shard_pk, job))

    def targets(self, parsed: ParsedAlert) -> tuple[list[Target], str]:
        """What the alert's labels point at; and, when nothing, a sentence saying why."""
        namespace = self.namespace
        roles = roles_of(parsed.labels)
        other_namespace = roles.get("namespace")
        if other_namespace and other_namespace != namespace.name:
            return [], (
                f"the namespace label names {other_namespace!r}, not {namespace.name!r} (the namespace this alert "
                "was posted to), so it was linked to nothing"
            )
        job = roles.get("job")
        execution_id = roles.get("execution_id")
        shard_id = roles.get("shard_id")
        raw_trace = roles.get("trace_id")
        if not any((job, execution_id, shard_id, raw_trace)):
            return [], "no label names a job, execution, shard or trace"

        def of_job(name: str) -> bool:
            return job is None or name == job

        targets: list[Target] = []
        if execution_id:
            found = [pk for pk, name in self.executions.get(execution_id, []) if of_job(name)][:MAX_LINKS_PER_RULE]
            wanted = set(found)
            shard_of = {
                execution_pk: pk
                for pk, execution_pk, _ in self.shards.get(shard_id or "", [])
                if execution_pk in wanted
            }
            for pk in found:
                shard_pk = shard_of.get(pk)
                reason = AlertLinkReason.SHARD_ID if shard_pk else AlertLinkReason.EXECUTION_ID
                targets.append(Target(pk, shard_pk, reason))
        elif shard_id:
            targets += [
                Target(execution_pk, pk, AlertLinkReason.SHARD_ID)
                for pk, execution_pk, name in self.shards.get(shard_id, [])
                if of_job(name)
            ][:MAX_LINKS_PER_RULE]
        if raw_trace and (trace_id := normalise_trace_id(raw_trace)):
            targets += [
                Target(execution_pk, shard_pk, AlertLinkReason.TRACE_ID)
                for execution_pk, shard_pk, name in self.traces.get(trace_id, [])
                if of_job(name)
            ][:MAX_LINKS_PER_RULE]
        if job and not (execution_id or shard_id or raw_trace):
            start = parsed.starts_at - window_margin()
            end = parsed.ends_at or self.now
            targets += [Target(pk, None, AlertLinkReason.JOB_WINDOW) for pk in self._in_window(job, start, end)]
            if not targets:
                until = "now" if parsed.ends_at is None else f"{end:%Y-%m-%d %H:%M:%S}Z"
                return (
                    [],
                    f"job {job!r} has no execution running or failed between {start:%Y-%m-%d %H:%M:%S}Z and {until}",
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

    def _in_window(self, job: str, start: datetime, end: datetime) -> list[int]:
        """The job's runs that were running, failed or timed out between start and end (cached per window)."""
        key = (job, start, end)
        if key not in self._windows:
            self._windows[key] = list(
                Execution.objects.in_namespaces([self.namespace.pk])
                .filter(job__name=job, status__in=_WINDOW_STATUSES, started_at__lte=end)
                .filter(
                    Q(finished_at__gte=start)
                    | Q(finished_at__isnull=True, status=RunStatus.RUNNING)
                    | Q(finished_at__isnull=True, started_at__gte=start)
                )
                .order_by("-started_at")
                .values_list("pk", flat=True)[:MAX_LINKS_PER_RULE]
            )
        return self._windows[key]
