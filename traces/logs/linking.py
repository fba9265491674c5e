"""Which execution and shard a log record belongs to: DESIGN.md's linking contract, as spans have it.

A record's owner is, in this order:
1. its span's owner, when it names a span (trace id + span id) that is stored and linked (the span already went
   through every rule: trace id, subtree, job.* attributes, span links);
2. the execution or shard whose `trace_id` is the record's trace id (a shard with a `span_id` when the record
   names that span, a shard without one for the whole trace; the execution when one has that trace id);
3. the owner of its trace's summary (a trace linked through its spans' attributes or links);
4. its own job.* attributes (`job.execution.id`, `job.shard.id`, checked against `job.name` and `job.namespace`
   as for spans; a record naming another namespace is never linked across it).

The writer computes owners before it stores a batch (`owners`: a fixed number of queries, none when the batch names
no trace and no job), so a stored record is linked at once. When the other side arrives later, `relink` recomputes
the stored records that may change: after spans (a post-store step of the span writer, after span linking: the
records of the touched traces) and after executions and shards (a step of the record writer: the records naming
them by trace id, job.* attributes or an earlier link). Both steps are registered in traces/apps.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db.models import Q

from jobs.models import Execution, Namespace, Shard
from traces.logs.models import LogRecord
from traces.models import Span, Trace

if TYPE_CHECKING:
    from jobs.poststore import StoredRecords
    from traces.poststore import StoredSpans

Owner = tuple[int | None, int | None, int | None]  # (execution pk, shard pk, job pk)
NONE: Owner = (None, None, None)
_RELINK_CHUNK = 5000


class LogKey(NamedTuple):
    trace_id: str
    span_id: str
    job_namespace: str
    job_name: str
    job_execution_id: str
    job_shard_id: str


def owners(namespace_id: int, keys: Sequence[LogKey]) -> list[Owner]:
    """The owner of each record described by `keys`, in order."""
    trace_ids = {k.trace_id for k in keys if k.trace_id}
    exec_ids = {k.job_execution_id for k in keys if k.job_execution_id}
    shard_ids = {k.job_shard_id for k in keys if k.job_shard_id}
    if not (trace_ids or exec_ids or shard_ids):
        return [NONE] * len(keys)
    jobs: dict[int, int] = {}  # execution pk -> job pk
    shard_exec: dict[int, int] = {}  # shard pk -> execution pk

    span_owner: dict[tuple[str, str], tuple[int | None, int | None]] = {}
    trace_owner: dict[str, Owner] = {}
    tl_exec: dict[str, list[int]] = defaultdict(list)
    tl_shards: dict[str, list[tuple[int, str]]] = defaultdict(list)
    if trace_ids:
        pairs = {(k.trace_id, k.span_id) for k in keys if k.trace_id and k.span_id}
        if pairs:
            rows = Span.objects.filter(
                Q(execution__isnull=False) | Q(shard__isnull=False),
                namespace_id=namespace_id,
                trace_id__in={t for t, _ in pairs},
                span_id__in={s for _, s in pairs},
            ).values_list("trace_id", "span_id", "execution_id", "shard_id")
            span_owner = {(t, s): (e, sh) for t, s, e, sh in rows if (t, s) in pairs}
        for t, e, s, j in (
            Trace.objects.filter(namespace_id=namespace_id, trace_id__in=trace_ids)
            .filter(Q(execution__isnull=False) | Q(shard__isnull=False))
            .values_list("trace_id", "execution_id", "shard_id", "job_id")
        ):
            trace_owner[t] = (e, s, j)
            if e and j:
                jobs[e] = j
        for pk, t, j in Execution.objects.filter(namespace_id=namespace_id, trace_id__in=trace_ids).values_list(
            "id", "trace_id", "job_id"
        ):
            tl_exec[t].append(pk)
            jobs[pk] = j
        for pk, t, span, e, j in Shard.objects.filter(namespace_id=namespace_id, trace_id__in=trace_ids).values_list(
            "id", "trace_id", "span_id", "execution_id", "execution__job_id"
        ):
            tl_shards[t].append((pk, span))
            shard_exec[pk] = e
            jobs[e] = j

    execs: dict[str, list[tuple[int, str]]] = defaultdict(list)
    if exec_ids:
        for pk, eid, j, name in Execution.objects.filter(
            namespace_id=namespace_id, execution_id__in=exec_ids
        ).values_list("id", "execution_id", "job_id", "job__name"):
            execs[eid].append((pk, name))
            jobs[pk] = j
    shards: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    if shard_ids:
        for pk, sid, e, eid, j, name in Shard.objects.filter(
            namespace_id=namespace_id, shard_id__in=shard_ids
        ).values_list(
            "id", "shard_id", "execution_id", "execution__execution_id", "execution__job_id", "execution__job__name"
        ):
            shards[sid].append((pk, eid, name))
            shard_exec[pk] = e
            jobs[e] = j
    ns_name = ""
    if any(k.job_namespace for k in keys):
        ns_name = Namespace.objects.filter(pk=namespace_id).values_list("name", flat=True).first() or ""

    missing = {e for e, _ in span_owner.values() if e and e not in jobs}
    if missing:
        jobs.update(Execution.objects.filter(id__in=missing).values_list("id", "job_id"))

    out: list[Owner] = []
    for k in keys:
        execution, shard = _owner(k, span_owner, tl_exec, tl_shards, trace_owner, execs, shards, ns_name)
        if shard and not execution:
            execution = shard_exec.get(shard)
        out.append((execution, shard, jobs.get(execution) if execution else None) if (execution or shard) else NONE)
    return out


def _owner(
    k: LogKey,
    span_owner: dict[tuple[str, str], tuple[int | None, int | None]],
    tl_exec: dict[str, list[int]],
    tl_shards: dict[str, list[tuple[int, str]]],
    trace_owner: dict[str, Owner],
    execs: dict[str, list[tuple[int, str]]],
    shards: dict[str, list[tuple[int, str, str]]],
    ns_name: str,
) -> tuple[int | None, int | None]:
    if k.trace_id:
        found = span_owner.get((k.trace_id, k.span_id))
        if found:
            return found
        candidates = tl_shards.get(k.trace_id, [])
        subtree = [pk for pk, span in candidates if span and span == k.span_id]
        whole = [pk for pk, span in candidates if not span]
        shard = subtree[0] if len(subtree) == 1 else (whole[0] if len(whole) == 1 else None)
        tl = tl_exec.get(k.trace_id, [])
        execution = tl[0] if len(tl) == 1 else None
        if shard or execution:
            return execution, shard
        summary = trace_owner.get(k.trace_id)
        if summary:
            return summary[0], summary[1]
    if k.job_namespace and k.job_namespace != ns_name:
        return None, None  # names another namespace: never crosses the tenant line
    execution = shard = None
    if k.job_execution_id:
        found_execs = [pk for pk, name in execs.get(k.job_execution_id, []) if not k.job_name or name == k.job_name]
        execution = found_execs[0] if len(found_execs) == 1 else None
    if k.job_shard_id:
        found_shards = [
            pk
            for pk, eid, name in shards.get(k.job_shard_id, [])
            if (not k.job_execution_id or eid == k.job_execution_id) and (not k.job_name or name == k.job_name)
        ]
        shard = found_shards[0] if len(found_shards) == 1 else None
    return execution, shard


MAX_RELINK = 50_000  # records one relink reads at most (a write's step must stay within the statement deadline)


def relink(namespace_id: int, where: Q) -> int:
    """Recompute the owners of the stored records of a namespace matching `where` (at most MAX_RELINK of them);
    store what changed. Returns how many records changed owner."""
    fields = (
        "id",
        "trace_id",
        "span_id",
        "job_namespace",
        "job_name",
        "job_execution_id",
        "job_shard_id",
        "execution_id",
        "shard_id",
        "job_id",
    )
    rows = list(LogRecord.objects.filter(where, namespace_id=namespace_id).order_by().values_list(*fields)[:MAX_RELINK])
    if not rows:
        return 0
    changed: dict[Owner, list[int]] = defaultdict(list)
    for start in range(0, len(rows), _RELINK_CHUNK):
        chunk = rows[start : start + _RELINK_CHUNK]
        computed = owners(namespace_id, [LogKey(*row[1:7]) for row in chunk])
        for row, owner in zip(chunk, computed, strict=True):
            if tuple(row[7:10]) != owner:
                changed[owner].append(row[0])
    for (execution, shard, job), pks in changed.items():
        for i in range(0, len(pks), 2000):
            LogRecord.objects.filter(id__in=pks[i : i + 2000]).update(
                execution_id=execution, shard_id=shard, job_id=job
            )
    return sum(len(pks) for pks in changed.values())


def link_logs_after_spans(stored: StoredSpans) -> None:
    """Span step (after span linking): in the touched traces, the records that name a span this call stored or a
    span whose owner span linking just changed (`StoredSpans.relinked`: e.g. an earlier span that moved under a
    shard's subtree root that arrived now), and the records without an owner yet, follow their spans' and traces'
    owners. (Not every record of the trace: a long run's trace takes span batches while it holds a million
    lines.)"""
    if not stored.trace_ids:
        return
    ids = sorted(set(stored.trace_ids))
    span_ids = sorted({s.span_id for s in stored.stored} | {span for _, span in stored.relinked})
    for i in range(0, len(ids), 2000):
        named = Q(span_id__in=span_ids) if span_ids else Q(pk__in=[])
        relink(stored.namespace_id, Q(trace_id__in=ids[i : i + 2000]) & (named | Q(execution__isnull=True)))


def link_logs_after_records(stored: StoredRecords) -> None:
    """Record step (after span linking): the records that name these executions and shards, by trace id, job.*
    attributes, or an earlier link, are linked again."""
    by_ns: dict[int, dict[str, set[Any]]] = defaultdict(lambda: defaultdict(set))
    for e in stored.executions:
        d = by_ns[e.namespace_id]
        if e.trace_id:
            d["trace_ids"].add(e.trace_id)
        d["exec_ids"].add(e.execution_id)
        if e.pk:
            d["exec_pks"].add(e.pk)
    for s in stored.shards:
        d = by_ns[s.namespace_id]
        if s.trace_id:
            d["trace_ids"].add(s.trace_id)
        d["shard_ids"].add(s.shard_id)
        if s.pk:
            d["shard_pks"].add(s.pk)
    for ns, d in sorted(by_ns.items()):
        exec_pks, shard_pks = sorted(d["exec_pks"]), sorted(d["shard_pks"])
        trace_ids = set(d["trace_ids"])
        # Only the records these executions and shards can take: those without an execution yet (for executions),
        # without a shard yet (for shards). A run's record changes several times while it holds its lines: its
        # linked records are not read again each time.
        named = Q(pk__in=[])
        if trace_ids:
            named |= Q(trace_id__in=sorted(trace_ids))
        if exec_pks or shard_pks:
            # Traces span linking just gave to these records (by their spans' attributes or links): a subquery,
            # so the step stays one query when nothing needs linking.
            owned = Trace.objects.filter(Q(execution_id__in=exec_pks) | Q(shard_id__in=shard_pks), namespace_id=ns)
            named |= Q(trace_id__in=owned.order_by().values("trace_id"))
        if d["exec_ids"]:
            named |= Q(job_execution_id__in=sorted(d["exec_ids"]))
        if d["shard_ids"]:
            named |= Q(job_shard_id__in=sorted(d["shard_ids"]))
        open_ = Q(pk__in=[])
        if d["exec_ids"]:
            open_ |= Q(execution__isnull=True)
        if d["shard_ids"]:
            open_ |= Q(shard__isnull=True)
        relink(ns, named & open_)
