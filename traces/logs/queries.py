"""What pages and the API show of log records: a filtered, time-ordered, keyset-paginated read, scoped to the
reader's namespaces.

`LogFilter.from_params` reads the query string (`job`, `execution`, `shard`, `service`, `severity`, `q`, `since`,
`until`, `order`), naming the parameter that is wrong (ValueError). `resolve` turns the job/execution/shard names
into rows the reader may read (`NotFound` otherwise: the page and the API answer 404, so another namespace's job
looks exactly like one that does not exist). `page` reads one page in one query, newest or oldest first, and says
whether it cut (`next` is the signed cursor of the rest). Every read is an index range: (execution | shard | job |
namespace, time_ns).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core import signing
from django.db.models import Q, QuerySet

from console.times import parse_moment
from jobs.models import Execution, Job, Shard
from traces.logs.models import LogRecord

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
ERROR = 17  # SeverityNumber ERROR and above
_SIGNER = signing.Signer(salt="jobtrace.logs.cursor")

# SeverityNumber ranges by name, for the severity filter (the minimum shown).
SEVERITIES = {"trace": 1, "debug": 5, "info": 9, "warn": 13, "error": 17, "fatal": 21}


class NotFound(Exception):
    """A job, execution or shard the reader may not read (or that does not exist): 404."""


@dataclass
class LogFilter:
    job: str = ""  # "namespace/job" or a job name in the reader's namespaces
    execution: str = ""
    shard: str = ""
    service: str = ""
    severity: int = 0  # the minimum SeverityNumber
    q: str = ""
    since: datetime | None = None
    until: datetime | None = None
    order: str = "newest"  # or "oldest"
    trace_id: str = ""
    span_id: str = ""

    @classmethod
    def from_params(cls, params: Any) -> LogFilter:
        def text(name: str, limit: int = 200) -> str:
            value = (params.get(name) or "").strip()
            if "\x00" in value:
                raise ValueError(f"{name}: must not hold a NUL character")
            if len(value) > limit:
                raise ValueError(f"{name}: at most {limit} characters")
            return value

        out = cls(job=text("job"), execution=text("execution"), shard=text("shard"), service=text("service"))
        out.q = text("q", 500)
        severity = text("severity").lower()
        if severity:
            if severity in SEVERITIES:
                out.severity = SEVERITIES[severity]
            elif severity.isdigit() and 0 <= int(severity) <= 24:
                out.severity = int(severity)
            else:
                raise ValueError(f"severity: use one of {', '.join(SEVERITIES)} or a number 0-24, not {severity!r}")
        for name in ("since", "until"):
            raw = text(name)
            if raw:
                try:
                    setattr(out, name, parse_moment(raw))
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}") from None
        order = text("order") or "newest"
        if order not in ("newest", "oldest"):
            raise ValueError(f"order: use newest or oldest, not {order!r}")
        out.order = order
        return out


@dataclass
class Scope:
    """What a filter's names resolved to, within the reader's namespaces."""

    namespaces: frozenset[int]
    job: Job | None = None
    executions: list[int] = field(default_factory=list)
    shards: list[int] = field(default_factory=list)


def resolve(readable: frozenset[int], f: LogFilter) -> Scope:
    scope = Scope(readable)
    if f.job:
        ns_name, sep, job_name = f.job.rpartition("/")
        jobs = Job.objects.filter(namespace_id__in=readable, name=job_name if sep else f.job)
        if sep:
            jobs = jobs.filter(namespace__name=ns_name)
        found = list(jobs.select_related("namespace")[:2])
        if len(found) != 1:
            raise NotFound(
                f"no job {f.job!r} you may read" if not found else f"{f.job!r} names several jobs: use ns/job"
            )
        scope.job = found[0]
    if f.execution:
        runs = Execution.objects.filter(namespace_id__in=readable, execution_id=f.execution)
        if scope.job is not None:
            runs = runs.filter(job=scope.job)
        scope.executions = list(runs.values_list("id", flat=True)[:50])
        if not scope.executions:
            raise NotFound(f"no execution {f.execution!r} you may read")
    if f.shard:
        shards = Shard.objects.filter(namespace_id__in=readable, shard_id=f.shard)
        if scope.executions:
            shards = shards.filter(execution_id__in=scope.executions)
        elif scope.job is not None:
            shards = shards.filter(execution__job=scope.job)
        scope.shards = list(shards.values_list("id", flat=True)[:50])
        if not scope.shards:
            raise NotFound(f"no shard {f.shard!r} you may read")
    return scope


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def records(scope: Scope, f: LogFilter) -> QuerySet[LogRecord]:
    """The matching records, unordered, scoped (the narrowest owner column first, so the index range is small)."""
    qs = LogRecord.objects.filter(namespace_id__in=scope.namespaces)
    if scope.shards:
        qs = qs.filter(shard_id__in=scope.shards)
    elif scope.executions:
        qs = qs.filter(execution_id__in=scope.executions)
    elif scope.job is not None:
        qs = qs.filter(job_id=scope.job.pk)
    if f.trace_id:
        qs = qs.filter(trace_id=f.trace_id)
        if f.span_id:
            qs = qs.filter(span_id=f.span_id)
    if f.service:
        qs = qs.filter(service=f.service)
    if f.severity:
        qs = qs.filter(severity_number__gte=f.severity)
    if f.q:
        qs = qs.filter(body_text__ilike=_like(f.q))
    if f.since is not None:
        qs = qs.filter(time_ns__gte=_ns(f.since))
    if f.until is not None:
        qs = qs.filter(time_ns__lt=_ns(f.until))
    return qs


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


@dataclass
class LogPage:
    rows: list[LogRecord]
    next_cursor: str | None  # the signed position after the last row, when the read cut
    order: str

    @property
    def cut(self) -> bool:
        return self.next_cursor is not None


def encode_cursor(order: str, time_ns: int, pk: int) -> str:
    return _SIGNER.sign(f"{order[0]}.{time_ns}.{pk}")


def decode_cursor(raw: str, order: str) -> tuple[int, int]:
    """The (time_ns, id) a cursor this read handed out holds; ValueError naming `cursor` for anything else."""
    try:
        kind, time_ns, pk = _SIGNER.unsign(raw).split(".")
        if kind != order[0]:
            raise ValueError
        return int(time_ns), int(pk)
    except (signing.BadSignature, ValueError):
        raise ValueError("cursor: is not a cursor this list handed out; follow the list's `next`") from None


def page(qs: QuerySet[LogRecord], order: str, cursor: str = "", limit: int = DEFAULT_LIMIT) -> LogPage:
    """One page in one query: `limit` rows after the cursor, newest or oldest first."""
    limit = max(1, min(limit, MAX_LIMIT))
    newest = order == "newest"
    if cursor:
        time_ns, pk = decode_cursor(cursor, order)
        if newest:
            qs = qs.filter(Q(time_ns__lt=time_ns) | Q(time_ns=time_ns, id__lt=pk))
        else:
            qs = qs.filter(Q(time_ns__gt=time_ns) | Q(time_ns=time_ns, id__gt=pk))
    ordering = ("-time_ns", "-id") if newest else ("time_ns", "id")
    rows = list(qs.select_related("namespace", "job", "execution", "shard").order_by(*ordering)[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(order, last.time_ns, last.pk)
    return LogPage(rows, next_cursor, order)


def error_lines(qs: QuerySet[LogRecord], limit: int = 20) -> list[LogRecord]:
    """The newest error-level records of a scope (a failing shard's page shows them first)."""
    return list(qs.filter(severity_number__gte=ERROR).order_by("-time_ns", "-id")[:limit])


def span_logs(namespace_id: int, trace_id: str, span_id: str, limit: int = 50) -> list[LogRecord]:
    """A span's records, oldest first (the trace page's span detail)."""
    return list(
        LogRecord.objects.filter(namespace_id=namespace_id, trace_id=trace_id, span_id=span_id).order_by(
            "time_ns", "id"
        )[:limit]
    )
