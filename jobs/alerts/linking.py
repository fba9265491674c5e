"""Which executions (and shards) an alert is about, read from its labels through their roles (`label_roles`).

Rules, all scoped to the namespace the alert was posted to:

1. `execution_id` -> that execution (of `job`, when a job label is present); with `shard_id` too, that shard of it.
2. `shard_id` alone -> the shard(s) with that id (of `job`, when present) and their execution.
3. `trace_id` -> the execution or shard whose trace_id it is, or that span linking attached the trace to.
4. only `job` -> that job's executions that were running, failed or timed out within the alert's window:
   from startsAt minus `JOBTRACE_ALERT_WINDOW_MARGIN_SECONDS` to endsAt (or now while it fires).

A `namespace` label naming another namespace than the caller's links nothing (the alert is still stored).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q

from console.lookup import normalise_trace_id
from jobs.alerts.choices import AlertLinkReason
from jobs.alerts.ingest import ParsedAlert
from jobs.choices import RunStatus
from jobs.models import Execution, Namespace, Shard

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
