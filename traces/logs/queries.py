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

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core import signing
from django.db import connection, transaction
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


def records(scope: Scope, f: LogFilter, text: bool = True) -> QuerySet[LogRecord]:
    """The matching records, unordered, scoped (the narrowest owner column first, so the index range is small);
    without the text search when not `text` (`page` applies it itself, `q=`)."""
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
    if f.q and text:
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


def page(qs: QuerySet[LogRecord], order: str, cursor: str = "", limit: int = DEFAULT_LIMIT, q: str = "") -> LogPage:
    """One page: `limit` rows after the cursor, newest or oldest first; with `q`, of the rows of `qs` whose body
    contains it (case-insensitive; `qs` then carries no text filter of its own: `records(..., text=False)`)."""
    limit = max(1, min(limit, MAX_LIMIT))
    newest = order == "newest"
    if cursor:
        time_ns, pk = decode_cursor(cursor, order)
        if newest:
            qs = qs.filter(Q(time_ns__lt=time_ns) | Q(time_ns=time_ns, id__lt=pk))
        else:
            qs = qs.filter(Q(time_ns__gt=time_ns) | Q(time_ns=time_ns, id__gt=pk))
    ordering = ("-time_ns", "-id") if newest else ("time_ns", "id")
    if q and connection.vendor == "postgresql":
        rows = _search_postgresql(qs, ordering, q, limit + 1)
    else:
        if q:
            qs = qs.filter(body_text__ilike=_like(q))
        rows = list(qs.select_related("namespace", "job", "execution", "shard").order_by(*ordering)[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(order, last.time_ns, last.pk)
    return LogPage(rows, next_cursor, order)


# Text search on PostgreSQL, in two plans, chosen by measuring rather than by the planner's estimate (a LIKE
# pattern's selectivity comes from a sample of bodies, and is wrong by orders of magnitude either way: measured on
# 5 million records, 'connection reset' (1 in 50) estimated at 550 rows took the trigram plan, 3.3 s):
# 1. a sample: the scope's newest (oldest) SAMPLE_ROWS records in its time-ordered index, filtered by the pattern.
#    Exact when it holds a page's worth of matches, or when the scope has no more records: a frequent term, or a
#    small scope (a run, a shard), ends here, in one query.
# 2. a term the sample found often enough to fill a page within WALK_ROWS records: the walk, that many records.
# 3. else the trigram index (pg_trgm GIN), forced: every match, sorted. When the term holds a whole word with a
#    digit in it ('account_42 ': '42'), the index is asked for that word only and the full pattern is checked on
#    what it returns: a log line's template words ('account') are in every record, so their trigrams' posting lists
#    are as long as the table, while a number or an id is what tells lines apart (measured on 5 million records:
#    304 ms for the whole pattern, 64 ms for the word).
SAMPLE_ROWS = 2_000
WALK_ROWS = 40_000
_WORD = re.compile(r"[^\W_]+")


def _search_postgresql(qs: QuerySet[LogRecord], ordering: tuple[str, str], q: str, want: int) -> list[LogRecord]:
    like = _like(q)
    found, complete = _walk(qs, ordering, like, want, SAMPLE_ROWS, counted=True)
    if not complete:
        needed = want * SAMPLE_ROWS * 3 // 2 // max(len(found), 1)  # records to walk at the sample's rate, +50%
        if len(found) * 200 < SAMPLE_ROWS or needed > WALK_ROWS:
            return _trigram_search(qs, ordering, q, like, want)
        found, complete = _walk(qs, ordering, like, want, needed, counted=False)
        if not complete:
            return _trigram_search(qs, ordering, q, like, want)
    if not found:
        return []
    rows = {
        r.pk: r
        for r in LogRecord.objects.filter(id__in=[k[0] for k in found], time_ns__in={k[1] for k in found})
        .select_related("namespace", "job", "execution", "shard")
        .order_by()
    }
    return [rows[pk] for pk, _ in found if pk in rows]


def _walk(
    qs: QuerySet[LogRecord], ordering: tuple[str, str], like: str, want: int, rows: int, counted: bool
) -> tuple[list[tuple[int, int]], bool]:
    """The (id, time_ns) of the first `want` matches among the scope's first `rows` records in order, and whether
    that is the answer (`want` of them, or the scope has no more records). `counted`: every record of the window is
    read (and counted) in the same query; else the read stops at the `want`th match and a short one is counted
    after."""
    direction = "DESC" if ordering[0].startswith("-") else "ASC"
    window = qs.order_by(*ordering).values_list("id", "time_ns", "body_text")[:rows]
    inner, params = window.query.sql_with_params()
    source = f"(SELECT s.*, count(*) OVER () AS n FROM ({inner}) AS s)" if counted else f"({inner})"  # noqa: S608
    sql = (
        f"SELECT w.id, w.time_ns{', w.n' if counted else ''} FROM {source} AS w"  # noqa: S608
        f" WHERE w.body_text ILIKE %s ORDER BY w.time_ns {direction}, w.id {direction} LIMIT {int(want)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, like])
        got = cursor.fetchall()
    found = [(row[0], row[1]) for row in got]
    if len(found) >= want:
        return found, True
    read = got[0][2] if counted and got else qs.order_by().values_list("id")[:rows].count()
    return found, read < rows


def _trigram_search(
    qs: QuerySet[LogRecord], ordering: tuple[str, str], q: str, like: str, want: int
) -> list[LogRecord]:
    narrow = [_like(word) for word in _words(q)]
    matched = qs.filter(body_text__ilike_recheck=like) if narrow else qs.filter(body_text__ilike=like)
    for pattern in narrow:
        matched = matched.filter(body_text__ilike=pattern)
    # The trigram index's bitmap, not a walk of the scope; and no JIT: an overestimate of the matches pushes the
    # plan's cost past jit_above_cost, and compiling it took 70 ms of a 100 ms read (measured, 5 million records).
    # A local setting outlasts a released savepoint: both are set back after, for a caller's outer transaction (a
    # failed read rolls the savepoint, and the settings, back).
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('enable_indexscan'), current_setting('jit'),"
            " set_config('enable_indexscan', 'off', true), set_config('jit', 'off', true)"
        )
        indexscan, jit = cursor.fetchone()[:2]
        rows = list(matched.select_related("namespace", "job", "execution", "shard").order_by(*ordering)[:want])
        cursor.execute("SELECT set_config('enable_indexscan', %s, true), set_config('jit', %s, true)", [indexscan, jit])
    return rows


def _words(q: str) -> list[str]:
    """The whole words of `q` (letters and digits, with a separator on each side inside `q`) that hold a digit, each
    with its separators: what the trigram index is asked for instead of the whole pattern (`page`)."""
    out = []
    for m in _WORD.finditer(q):
        start, end = m.start(), m.end()
        word = m.group()
        if start > 0 and end < len(q) and len(word) >= 2 and any(c.isdigit() for c in word):
            out.append(q[start - 1 : end + 1])
    return out


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
