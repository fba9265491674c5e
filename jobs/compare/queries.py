"""Comparing runs of a job: two runs side by side (their traces through traces/compare.py, their shards), a run
against the job's usual (the median of its previous successful runs), and one shard id across the job's runs.

Each function reads in a fixed number of queries; the callers have already scoped the executions and the job to
the caller's namespaces (a view's `Access.of(request)`).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F, Window
from django.db.models.functions import RowNumber

from console import links
from jobs.choices import FAILURE_STATUSES, RunStatus
from jobs.models import Execution, Job, Shard
from jobs.stats import SLOW_FACTOR
from traces import queries as trace_queries
from traces.compare import Comparison, compare
from traces.models import Trace

USUAL_RUNS = 30  # the previous successful runs whose median is a job's usual duration
SHARD_DIFFERENCES = 100  # shard ids listed as failing in one run only, per side
SHARD_HISTORY = 100  # runs listed on the one-shard-across-runs page


# --- a run against the job's usual --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usual:
    """How a run's duration compares with the median of the job's previous successful runs."""

    duration_ms: int | None  # this run's
    usual_ms: float | None  # the median, None without previous successful runs
    runs: int  # how many previous successful runs the median is of
    previous: Execution | None  # the previous successful run
    usual_run: Execution | None  # the newest previous successful run of about the usual duration

    @property
    def ratio(self) -> float | None:
        if self.duration_ms is None or not self.usual_ms:
            return None
        return self.duration_ms / self.usual_ms

    @property
    def slower(self) -> bool:
        """Much slower than usual: SLOW_FACTOR times the median or more (what the job chart draws as slow)."""
        return self.ratio is not None and self.ratio >= SLOW_FACTOR

    @property
    def faster(self) -> bool:
        return self.ratio is not None and self.ratio <= 1 / SLOW_FACTOR

    @property
    def previous_is_usual(self) -> bool:
        return self.previous is not None and self.usual_run is not None and self.previous.pk == self.usual_run.pk


def _is_usual(duration_ms: int | None, usual_ms: float) -> bool:
    return duration_ms is not None and usual_ms / SLOW_FACTOR < duration_ms < usual_ms * SLOW_FACTOR


def usual_of(execution: Execution) -> Usual:
    """The run against its job's usual: one query (the previous USUAL_RUNS successful runs, newest first)."""
    if execution.started_at is None:
        return Usual(execution.duration_ms, None, 0, None, None)
    previous = list(
        Execution.objects.filter(
            job_id=execution.job_id,
            status=RunStatus.SUCCEEDED,
            duration_ms__isnull=False,
            started_at__lt=execution.started_at,
        )
        .exclude(pk=execution.pk)
        .select_related("job__namespace")
        .order_by("-started_at", "-id")[:USUAL_RUNS]
    )
    if not previous:
        return Usual(execution.duration_ms, None, 0, None, None)
    usual_ms = statistics.median(e.duration_ms for e in previous if e.duration_ms is not None)
    usual_run = next((e for e in previous if _is_usual(e.duration_ms, usual_ms)), None)
    return Usual(execution.duration_ms, usual_ms, len(previous), previous[0], usual_run)


@dataclass(frozen=True)
class LastAgainstUsual:
    last_ms: int
    usual_ms: float

    @property
    def ratio(self) -> float:
        return self.last_ms / self.usual_ms if self.usual_ms else 0.0

    @property
    def slower(self) -> bool:
        return self.ratio >= SLOW_FACTOR


def last_against_usual(job_ids: Iterable[int]) -> dict[int, LastAgainstUsual]:
    """Per job: its last finished run's duration against the median of the successful runs before it (the previous
    USUAL_RUNS, whatever their age: a regression five nights old is still measured against the nights before it).
    One query for every job of a list page (a window per job)."""
    ids = list(job_ids)
    if not ids:
        return {}
    numbered = (
        Execution.objects.filter(job_id__in=ids, duration_ms__isnull=False, started_at__isnull=False)
        .annotate(n=Window(RowNumber(), partition_by=[F("job_id")], order_by=[F("started_at").desc(), F("id").desc()]))
        .filter(n__lte=USUAL_RUNS + 1)
        .order_by("job_id", "n")
        .values_list("job_id", "status", "duration_ms", "n")
    )
    per_job: dict[int, list[tuple[str, int]]] = {}
    for job_id, status, duration_ms, _ in numbered:
        per_job.setdefault(job_id, []).append((status, duration_ms))
    out: dict[int, LastAgainstUsual] = {}
    for job_id, runs in per_job.items():
        (_, last_ms), before = runs[0], runs[1:]
        succeeded = [ms for status, ms in before if status == RunStatus.SUCCEEDED]
        if succeeded:
            out[job_id] = LastAgainstUsual(last_ms, statistics.median(succeeded))
    return out


# --- two runs side by side ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardSide:
    total: int
    failed: int
    by_status: dict[str, int]


@dataclass
class RunComparison:
    a: Execution
    b: Execution
    trace_a: str  # the trace compared for each run ("" when the run has none)
    trace_b: str
    traces: Comparison
    shards_a: ShardSide
    shards_b: ShardSide
    failing_only_in_a: list[str] = field(default_factory=list)  # shard ids failing in a but not in b
    failing_only_in_b: list[str] = field(default_factory=list)

    @property
    def duration_delta_ms(self) -> int | None:
        if self.a.duration_ms is None or self.b.duration_ms is None:
            return None
        return self.b.duration_ms - self.a.duration_ms

    def span_url(self, side: str, span_id: str) -> str:
        trace_id = self.trace_a if side == "a" else self.trace_b
        return links.trace_url(trace_id, span_id) if trace_id and span_id else ""

    def as_dict(self, limit: int | None = None) -> dict[str, Any]:
        doc = self.traces.as_dict(limit)
        for key in ("operations", "only_in_a", "only_in_b", "error_changes"):
            for op in doc[key]:
                op["a"]["url"] = self.span_url("a", op["a"]["span_id"] or "") or None
                op["b"]["url"] = self.span_url("b", op["b"]["span_id"] or "") or None
        return {
            "a": _run_dict(self.a, self.trace_a, self.shards_a),
            "b": _run_dict(self.b, self.trace_b, self.shards_b),
            "duration_delta_ms": self.duration_delta_ms,
            "traces": doc,
            "shards": {
                "failing_only_in_a": self.failing_only_in_a,
                "failing_only_in_b": self.failing_only_in_b,
            },
        }


def _run_dict(e: Execution, trace_id: str, shards: ShardSide) -> dict[str, Any]:
    return {
        "execution_id": e.execution_id,
        "status": e.status,
        "started_at": e.started_at,
        "duration_ms": e.duration_ms,
        "trace_id": trace_id or None,
        "url": links.execution_url_of(e),
        "shards": {"total": shards.total, "failed": shards.failed, "by_status": shards.by_status},
    }


def _compared_trace(execution: Execution) -> tuple[str, int | None]:
    """The trace that stands for a run: its own trace id when spans of it are stored, else its longest linked trace
    (a run that only a shard's or a worker's trace recorded). One query."""
    traces = Trace.objects.filter(namespace_id=execution.namespace_id)
    own = traces.filter(trace_id=execution.trace_id).values_list("trace_id", "span_count").first()
    if own is None:
        own = (
            traces.filter(execution=execution)
            .order_by("-duration_ns", "trace_id")
            .values_list("trace_id", "span_count")
            .first()
        )
    if own is None:
        return execution.trace_id, None
    return own[0], own[1]


def _shard_side(execution: Execution) -> ShardSide:
    counts = Shard.objects.filter(execution=execution).status_counts()
    return ShardSide(
        sum(counts.values()), sum(counts.get(s, 0) for s in FAILURE_STATUSES), dict(sorted(counts.items()))
    )


def _failing_ids(execution: Execution, other: Execution) -> list[str]:
    """Shard ids failing in `execution` that did not fail in `other` (absent there, or any other status)."""
    failing_there = Shard.objects.filter(execution=other, status__in=FAILURE_STATUSES).values("shard_id")
    return list(
        Shard.objects.filter(execution=execution, status__in=FAILURE_STATUSES)
        .exclude(shard_id__in=failing_there)
        .order_by("shard_id")
        .values_list("shard_id", flat=True)[:SHARD_DIFFERENCES]
    )


def compare_runs(a: Execution, b: Execution) -> RunComparison:
    """Two runs of a job compared: their traces operation by operation, their shard counts and the shard ids that
    failed in one run only. Ten queries, whatever the size of the traces or the number of shards."""
    trace_a, spans_a = _compared_trace(a)
    trace_b, spans_b = _compared_trace(b)
    wf_a = trace_queries.trace_waterfall(a.namespace_id, trace_a, spans_a) if trace_a else _empty()
    wf_b = trace_queries.trace_waterfall(b.namespace_id, trace_b, spans_b) if trace_b else _empty()
    return RunComparison(
        a,
        b,
        trace_a if wf_a.rows else "",
        trace_b if wf_b.rows else "",
        compare(wf_a, wf_b),
        _shard_side(a),
        _shard_side(b),
        _failing_ids(a, b),
        _failing_ids(b, a),
    )


def _empty() -> Any:
    from traces.waterfall import build

    return build([])


# --- one shard id across the job's runs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardRun:
    shard: Shard
    url: str
    trace_url: str


def shard_history(job: Job, shard_id: str, limit: int = SHARD_HISTORY) -> list[ShardRun]:
    """That shard id in each of the job's runs, newest run first (one query)."""
    shards = (
        Shard.objects.filter(execution__job=job, shard_id=shard_id)
        .select_related("execution")
        .order_by("-execution__started_at", "-execution_id")[:limit]
    )
    ns, name = job.namespace.name, job.name
    return [
        ShardRun(
            s,
            links.shard_url(ns, name, s.execution.execution_id, s.shard_id),
            links.trace_url(s.trace_id, s.span_id or None) if s.trace_id else "",
        )
        for s in shards
    ]
