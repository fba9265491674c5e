"""Linking spans to executions and shards (DESIGN.md's linking contract), stored on Span and Trace.

A span belongs to an execution or shard when (checked in this order):
1. its trace id is the execution's or shard's `trace_id` — a shard with a `span_id` owns that span's subtree, a
   shard without one owns the whole trace;
2. it (or an ancestor in its trace) carries job attributes `job.namespace`, `job.name`, `job.execution.id`,
   `job.shard.id` (span or resource level, or a configured alias — see traces/ingest/spans.py);
3. it (or an ancestor) has a span link to a span that belongs to an execution or shard (trace-per-shard layouts).

The shard is the first rule that names one; the execution is the trace-level execution, else the shard's, else
the first rule that names one. The trace summary takes the trace-level match, else its root span's, else the only
execution/shard any of its spans belongs to (so `?shard=` finds a trace in which one shard owns a subtree).

Recomputed per trace whenever either side arrives, as a post-store step of both writers (registered in
traces/apps.py; jobs/poststore.py lists the steps): spans (`link_stored_spans` -> `link_traces`) and executions and
shards (`link_stored_records` -> `on_records_changed`). The whole trace is recomputed, so the order and repetition
of arrivals never matters. Results are stored, so pages and searches never recompute them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Q

from jobs.models import Execution, Namespace, Shard
from traces import locks
from traces.models import Span, SpanLink, Trace

if TYPE_CHECKING:
    from jobs.poststore import StoredRecords
    from traces.poststore import StoredSpans

MAX_LINK_ROUNDS = 3  # traces linked through links of links: bounded, so a link cycle cannot loop

Owner = tuple[int | None, int | None]  # (execution pk, shard pk)


def link_stored_spans(stored: StoredSpans) -> None:
    """Span step: re-link the traces a span write touched (one query when none of them can link)."""
    link_traces(stored.namespace_id, stored.trace_ids, new_spans=stored.received, relinked=stored.relinked)


def link_stored_records(stored: StoredRecords) -> None:
    """Record step: re-link the spans that name the executions and shards a record write created or changed."""
    on_records_changed(stored.executions, stored.shards)


def on_records_changed(executions: Sequence[Execution], shards: Sequence[Shard]) -> None:
    """After executions/shards were upserted (the record step, or a test): re-link the spans that name them.

    Cheap when nothing needs linking (the usual case: records arrive before their spans, and the span writer links
    them when spans arrive): per namespace, one lock statement and one query that narrows the candidates to traces
    that already have spans (by trace id or by naming these records) or were linked to these records before; when
    there are none, nothing more runs.
    """
    trace_ids: dict[int, set[str]] = defaultdict(set)
    exec_ids: dict[int, set[str]] = defaultdict(set)
    shard_ids: dict[int, set[str]] = defaultdict(set)
    exec_pks: dict[int, set[int]] = defaultdict(set)
    shard_pks: dict[int, set[int]] = defaultdict(set)
    for e in executions:
        ns = e.namespace_id
        if e.trace_id:
            trace_ids[ns].add(e.trace_id)
        exec_ids[ns].add(e.execution_id)
        if e.pk:
            exec_pks[ns].add(e.pk)
    for s in shards:
        ns = s.namespace_id
        if s.trace_id:
            trace_ids[ns].add(s.trace_id)
        shard_ids[ns].add(s.shard_id)
        if s.pk:
            shard_pks[ns].add(s.pk)
    for ns in sorted(set(exec_ids) | set(shard_ids)):
        # Before reading spans: a span writer naming these ids (or carrying these trace ids) either committed
        # already, or waits for this transaction and then sees these records.
        locks.lock(ns, trace_ids[ns], exec_ids[ns], shard_ids[ns])
        found = _traces_to_relink(ns, trace_ids[ns], exec_ids[ns], shard_ids[ns], exec_pks[ns], shard_pks[ns])
        if found:
            link_traces(ns, sorted(found))


# Traces of one namespace that may change owner when these records change: the records' own trace ids that have
# spans (one index probe each, stopping at the first span: a scalar subquery, since EXISTS becomes a semi-join that
# stale statistics on a young namespace turn into a read of all its spans), traces with spans naming the records'
# execution/shard ids (job attributes), and traces linked to these records before (a record's trace id may have
# changed).
_PG_RELINK = """
SELECT t FROM unnest(%(trace_ids)s::text[]) AS t
WHERE (SELECT 1 FROM traces_span s WHERE s.namespace_id = %(ns)s AND s.trace_id = t LIMIT 1) IS NOT NULL
UNION
(SELECT trace_id FROM traces_span
 WHERE namespace_id = %(ns)s AND job_execution_id <> '' AND job_execution_id = ANY(%(exec_ids)s) LIMIT 10000)
UNION
(SELECT trace_id FROM traces_span
 WHERE namespace_id = %(ns)s AND job_shard_id <> '' AND job_shard_id = ANY(%(shard_ids)s) LIMIT 10000)
UNION
(SELECT trace_id FROM traces_trace
 WHERE namespace_id = %(ns)s AND (execution_id = ANY(%(exec_pks)s) OR shard_id = ANY(%(shard_pks)s)) LIMIT 10000)
"""


def _traces_to_relink(
    namespace_id: int,
    trace_ids: set[str],
    exec_ids: set[str],
    shard_ids: set[str],
    exec_pks: set[int],
    shard_pks: set[int],
) -> set[str]:
    if connection.vendor == "postgresql":
        # Literal arrays (not JSON unpacked in SQL): the planner sees their size and picks the indexes.
        params = {
            "ns": namespace_id,
            "trace_ids": sorted(trace_ids),
            "exec_ids": sorted(exec_ids),
            "shard_ids": sorted(shard_ids),
            "exec_pks": sorted(exec_pks),
            "shard_pks": sorted(shard_pks),
        }
        with connection.cursor() as cursor:
            cursor.execute(_PG_RELINK, params)
            return {row[0] for row in cursor.fetchall()}
    cond = Q(trace_id__in=trace_ids) if trace_ids else Q(pk__in=[])
    if exec_ids:
        cond |= Q(job_execution_id__in=exec_ids)
    if shard_ids:
        cond |= Q(job_shard_id__in=shard_ids)
    spans = Span.objects.filter(cond, namespace_id=namespace_id).order_by().values_list("trace_id", flat=True)
    found = set(spans.distinct()[:10000])
    if exec_pks or shard_pks:
        linked = Trace.objects.filter(
            Q(execution_id__in=exec_pks) | Q(shard_id__in=shard_pks), namespace_id=namespace_id
        )
        found.update(linked.order_by().values_list("trace_id", flat=True)[:10000])
    return found


def link_traces(
    namespace_id: int,
    trace_ids: Sequence[str],
    new_spans: Iterable[Any] | None = None,
    relinked: set[tuple[str, str]] | None = None,
) -> None:
    """Recompute the linking of these traces (and of traces that link to them), storing what changed; the
    (trace id, span id) of each span whose owner changed is added to `relinked` when given."""
    done: set[str] = set()
    pending = list(dict.fromkeys(trace_ids))
    for _ in range(MAX_LINK_ROUNDS):
        if not pending:
            break
        linked = _link_round(namespace_id, pending, new_spans, relinked)
        new_spans = None
        done.update(pending)
        if not linked:
            break
        # Spans elsewhere that link into a trace that just got an owner follow it (rule 3).
        sources = (
            SpanLink.objects.filter(namespace_id=namespace_id, linked_trace_id__in=linked)
            .exclude(trace_id__in=done)
            .order_by()
            .values_list("trace_id", flat=True)
            .distinct()
        )
        pending = list(sources[:10000])


def _link_round(
    namespace_id: int,
    trace_ids: list[str],
    new_spans: Iterable[Any] | None,
    relinked: set[tuple[str, str]] | None = None,
) -> list[str]:
    """One pass over these traces; returns the ones that now have an owner."""
    if new_spans is not None:
        # Spans arrived: only traces with an execution/shard by trace id, an owner already, or new spans naming job
        # attributes or links can change. Usually none: then this one query is all linking costs a batch.
        need = {s.trace_id for s in new_spans if s.job_execution_id or s.job_shard_id or s.links}
        need.update(_recorded_or_owned(namespace_id, trace_ids))
        need &= set(trace_ids)
        if not need:
            return []
    else:
        need = set(trace_ids)  # records changed, or a link target got linked: look at everything
    ids = sorted(need)
    executions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in Execution.objects.filter(namespace_id=namespace_id, trace_id__in=ids).values("id", "trace_id", "job_id"):
        executions[row["trace_id"]].append(row)
    shards: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in Shard.objects.filter(namespace_id=namespace_id, trace_id__in=ids).values(
        "id", "trace_id", "span_id", "execution_id"
    ):
        shards[row["trace_id"]].append(row)
    return _link(namespace_id, ids, executions, shards, relinked)


_PG_RECORDED_OR_OWNED = """
SELECT trace_id FROM jobs_execution WHERE namespace_id = %(ns)s AND trace_id <> '' AND trace_id = ANY(%(ids)s)
UNION
SELECT trace_id FROM jobs_shard WHERE namespace_id = %(ns)s AND trace_id <> '' AND trace_id = ANY(%(ids)s)
UNION
SELECT trace_id FROM traces_trace WHERE namespace_id = %(ns)s AND trace_id = ANY(%(ids)s)
    AND (execution_id IS NOT NULL OR shard_id IS NOT NULL)
"""


def _recorded_or_owned(namespace_id: int, trace_ids: list[str]) -> set[str]:
    """Of these traces: those an execution or shard names by trace id, and those already linked (one query)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_PG_RECORDED_OR_OWNED, {"ns": namespace_id, "ids": list(trace_ids)})
            return {row[0] for row in cursor.fetchall()}
    executions = Execution.objects.filter(namespace_id=namespace_id, trace_id__in=trace_ids).values_list("trace_id")
    shards = Shard.objects.filter(namespace_id=namespace_id, trace_id__in=trace_ids).values_list("trace_id")
    owned = (
        Trace.objects.filter(namespace_id=namespace_id, trace_id__in=trace_ids)
        .filter(Q(execution__isnull=False) | Q(shard__isnull=False))
        .values_list("trace_id")
    )
    return {row[0] for row in executions.order_by().union(shards.order_by(), owned.order_by())}


def _link(
    namespace_id: int,
    trace_ids: list[str],
    executions: dict[str, list[dict[str, Any]]],
    shards: dict[str, list[dict[str, Any]]],
    relinked: set[tuple[str, str]] | None = None,
) -> list[str]:
    spans = list(
        Span.objects.filter(namespace_id=namespace_id, trace_id__in=trace_ids)
        .order_by()
        .values_list(
            "id",
            "trace_id",
            "span_id",
            "parent_span_id",
            "start_ns",
            "job_namespace",
            "job_name",
            "job_execution_id",
            "job_shard_id",
            "execution_id",
            "shard_id",
        )
    )
    if not spans:
        return []
    shard_exec: dict[int, int] = {}
    for rows in shards.values():
        for row in rows:
            shard_exec[row["id"]] = row["execution_id"]

    attr_owner = _attribute_owners(namespace_id, spans, shard_exec)
    link_owner = _link_owners(namespace_id, trace_ids)

    by_trace: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in spans:
        by_trace[row[1]].append(row)
    span_updates: dict[Owner, list[int]] = defaultdict(list)
    trace_owner: dict[str, tuple[int | None, int | None]] = {}
    for trace_id, rows in by_trace.items():
        execs = executions.get(trace_id, [])
        tl_exec = execs[0]["id"] if len(execs) == 1 else None
        subtree = {r["span_id"]: r["id"] for r in shards.get(trace_id, []) if r["span_id"]}
        whole = [r["id"] for r in shards.get(trace_id, []) if not r["span_id"]]
        tl_shard = whole[0] if len(whole) == 1 else None
        owners = _walk(rows, subtree, attr_owner, link_owner)
        root_owner: Owner = (None, None)
        root_start: int | None = None
        seen_owners: set[Owner] = set()
        for row in rows:
            pk, _, span_id, parent, start = row[0], row[1], row[2], row[3], row[4]
            sub_shard, attr, link = owners[span_id]
            shard = sub_shard or tl_shard or attr[1] or link[1]
            execution = tl_exec or (shard_exec.get(shard) if shard else None) or attr[0] or link[0]
            if shard and shard not in shard_exec:
                shard_exec[shard] = execution  # type: ignore[assignment]
            owner = (execution, shard)
            seen_owners.add(owner)
            if (row[9], row[10]) != owner:
                span_updates[owner].append(pk)
                if relinked is not None:
                    relinked.add((trace_id, span_id))
            if not parent and (root_start is None or start < root_start):
                root_owner, root_start = owner, start
        t_exec = tl_exec or root_owner[0] or _only({e for e, _ in seen_owners if e})
        t_shard = tl_shard or root_owner[1] or _only({s for _, s in seen_owners if s})
        if t_shard and not t_exec:
            t_exec = shard_exec.get(t_shard)
        trace_owner[trace_id] = (t_exec, t_shard)
    for (execution, shard), pks in span_updates.items():
        for i in range(0, len(pks), 2000):
            Span.objects.filter(id__in=pks[i : i + 2000]).update(execution_id=execution, shard_id=shard)
    _store_trace_owners(namespace_id, trace_owner)
    return [t for t, (e, s) in trace_owner.items() if e or s]


def _only(values: set[int]) -> int | None:
    return next(iter(values)) if len(values) == 1 else None


def _walk(
    rows: list[tuple[Any, ...]],
    subtree: dict[str, int],
    attr_owner: dict[int, Owner],
    link_owner: dict[tuple[str, str], Owner],
) -> dict[str, tuple[int | None, Owner, Owner]]:
    """Per span id: (subtree shard, attribute owner, link owner), each inherited from the nearest ancestor."""
    ids = {row[2] for row in rows}
    children: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    roots = []
    for row in rows:
        if row[3] and row[3] in ids and row[3] != row[2]:
            children[row[3]].append(row)
        else:
            roots.append(row)
    none: Owner = (None, None)
    result: dict[str, tuple[int | None, Owner, Owner]] = {}
    stack = [(row, (None, none, none)) for row in roots]
    while stack:
        row, (sub, attr, link) = stack.pop()
        span_id = row[2]
        if span_id in result:
            continue
        sub = subtree.get(span_id) or sub
        own_attr = attr_owner.get(row[0], none)
        attr = (own_attr[0] or attr[0], own_attr[1] or attr[1]) if own_attr != none else attr
        own_link = link_owner.get((row[1], span_id), none)
        link = own_link if own_link != none else link
        result[span_id] = (sub, attr, link)
        stack.extend((child, (sub, attr, link)) for child in children.get(span_id, ()))
    for row in rows:  # parent cycles: never reached from a root, owned by nothing inherited
        if row[2] not in result:
            result[row[2]] = (subtree.get(row[2]), attr_owner.get(row[0], none), link_owner.get((row[1], row[2]), none))
    return result


def _attribute_owners(namespace_id: int, spans: list[tuple[Any, ...]], shard_exec: dict[int, int]) -> dict[int, Owner]:
    """Rule 2: spans naming `job.execution.id` / `job.shard.id` (optionally `job.name`, `job.namespace`)."""
    named = [row for row in spans if row[7] or row[8]]
    if not named:
        return {}
    ns_name = Namespace.objects.filter(pk=namespace_id).values_list("name", flat=True).first() or ""
    exec_ids = {row[7] for row in named if row[7]}
    shard_ids = {row[8] for row in named if row[8]}
    execs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if exec_ids:
        for row in Execution.objects.filter(namespace_id=namespace_id, execution_id__in=exec_ids).values(
            "id", "execution_id", "job__name"
        ):
            execs[row["execution_id"]].append(row)
    shard_rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if shard_ids:
        for row in Shard.objects.filter(namespace_id=namespace_id, shard_id__in=shard_ids).values(
            "id", "shard_id", "execution_id", "execution__execution_id", "execution__job__name"
        ):
            shard_rows[row["shard_id"]].append(row)
            shard_exec[row["id"]] = row["execution_id"]
    owners: dict[int, Owner] = {}
    for row in named:
        pk, job_ns, job_name, exec_id, shard_id = row[0], row[5], row[6], row[7], row[8]
        if job_ns and job_ns != ns_name:
            continue  # names another namespace: never crosses the tenant line
        execution = None
        if exec_id:
            candidates = [e for e in execs.get(exec_id, []) if not job_name or e["job__name"] == job_name]
            execution = candidates[0]["id"] if len(candidates) == 1 else None
        shard = None
        if shard_id:
            candidates = [
                s
                for s in shard_rows.get(shard_id, [])
                if (not exec_id or s["execution__execution_id"] == exec_id)
                and (not job_name or s["execution__job__name"] == job_name)
            ]
            if len(candidates) == 1:
                shard = candidates[0]["id"]
                execution = execution or candidates[0]["execution_id"]
        if execution or shard:
            owners[pk] = (execution, shard)
    return owners


def _link_owners(namespace_id: int, trace_ids: list[str]) -> dict[tuple[str, str], Owner]:
    """Rule 3: (trace id, span id) of a linking span -> the owner of the first linked span that has one."""
    links = list(
        SpanLink.objects.filter(namespace_id=namespace_id, trace_id__in=trace_ids)
        .order_by("id")
        .values_list("trace_id", "span_id", "linked_trace_id", "linked_span_id")
    )
    if not links:
        return {}
    targets = Span.objects.filter(
        namespace_id=namespace_id,
        trace_id__in={lt for _, _, lt, _ in links},
        span_id__in={ls for _, _, _, ls in links},
    ).filter(Q(execution__isnull=False) | Q(shard__isnull=False))
    owned = {(t, s): (e, sh) for t, s, e, sh in targets.values_list("trace_id", "span_id", "execution_id", "shard_id")}
    result: dict[tuple[str, str], Owner] = {}
    for trace_id, span_id, lt, ls in links:
        if (trace_id, span_id) not in result and (lt, ls) in owned and lt != trace_id:
            result[(trace_id, span_id)] = owned[(lt, ls)]
    return result


def _store_trace_owners(namespace_id: int, owners: dict[str, tuple[int | None, int | None]]) -> None:
    if not owners:
        return
    current = {
        t: (e, s, j)
        for t, e, s, j in Trace.objects.filter(namespace_id=namespace_id, trace_id__in=list(owners)).values_list(
            "trace_id", "execution_id", "shard_id", "job_id"
        )
    }
    exec_ids = {e for e, _ in owners.values() if e}
    jobs = dict(Execution.objects.filter(id__in=exec_ids).values_list("id", "job_id")) if exec_ids else {}
    for trace_id, (execution, shard) in owners.items():
        job = jobs.get(execution) if execution else None
        if trace_id in current and current[trace_id] != (execution, shard, job):
            Trace.objects.filter(namespace_id=namespace_id, trace_id=trace_id).update(
                execution_id=execution, shard_id=shard, job_id=job
            )


def propagation_gap(execution: Execution) -> bool:
    """A sampled execution whose spans never arrived: the page shows the gap instead of an empty trace."""
    if not execution.sampled or not execution.trace_id:
        return False
    return not Trace.objects.filter(namespace_id=execution.namespace_id, trace_id=execution.trace_id).exists()
