"""Recompute the job attributes and the linking of spans already stored (`manage.py relink`).

A span's `job.*` columns are read from its attributes and resource when it is stored, through the aliases of
JOBTRACE_ATTRIBUTE_ALIASES at that moment (traces/ingest/spans.py `Extractor`). After the aliases change, spans
stored before say nothing new until this runs: it reads each stored span's attributes and resource again with the
current aliases, stores the columns that changed, and recomputes the linking of its trace (traces/linking.py).

Bounded: traces are taken in batches of at most `batch_spans` spans (by their summaries' span counts; a bigger
trace is a batch of its own), each batch in its own transaction under the linking locks, so ingest goes on
meanwhile and a long relink holds nothing for long. Safe to repeat: a second run changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from jobs.models import Namespace
from traces.ingest.spans import Extractor
from traces.linking import link_traces
from traces.locks import lock
from traces.models import Span, Trace

BATCH_SPANS = 20_000
_JOB_COLUMNS = ("job_namespace", "job_name", "job_execution_id", "job_shard_id")


@dataclass
class RelinkResult:
    traces: int = 0  # traces looked at
    spans: int = 0  # spans read again
    spans_changed: int = 0  # spans whose job attributes changed
    linked_before: int = 0  # of the traces looked at, those with an owner before
    linked_after: int = 0  # ... and after
    batches: int = 0


def relink(
    namespace: Namespace,
    *,
    since_ns: int | None = None,
    batch_spans: int = BATCH_SPANS,
    aliases: dict[str, str] | None = None,
    progress: Callable[[RelinkResult], None] | None = None,
) -> RelinkResult:
    """Relink the namespace's traces (those starting at or after `since_ns` when given), batch by batch."""
    extractor = Extractor(aliases)
    result = RelinkResult()
    for batch in _batches(namespace.pk, since_ns, batch_spans):
        with transaction.atomic():
            lock(namespace.pk, batch, (), ())
            result.linked_before += _owned(namespace.pk, batch)
            result.spans_changed += _reread(namespace.pk, batch, extractor, result)
            link_traces(namespace.pk, batch)
            result.linked_after += _owned(namespace.pk, batch)
        result.traces += len(batch)
        result.batches += 1
        if progress is not None:
            progress(result)
    return result


def _batches(namespace_id: int, since_ns: int | None, batch_spans: int) -> Iterator[list[str]]:
    """Trace ids in batches of at most `batch_spans` spans, by primary key (keyset: no OFFSET, no long cursor)."""
    traces = Trace.objects.filter(namespace_id=namespace_id)
    if since_ns is not None:
        traces = traces.filter(start_ns__gte=since_ns)
    last = 0
    while True:
        rows = list(traces.filter(pk__gt=last).order_by("pk").values_list("pk", "trace_id", "span_count")[:1000])
        if not rows:
            return
        batch: list[str] = []
        spans = 0
        for _, trace_id, span_count in rows:
            if batch and spans + span_count > batch_spans:
                yield batch
                batch, spans = [], 0
            batch.append(trace_id)
            spans += span_count
        yield batch
        last = rows[-1][0]


def _reread(namespace_id: int, trace_ids: list[str], extractor: Extractor, result: RelinkResult) -> int:
    """Read the job attributes of the traces' spans again; store those that changed. Returns how many did."""
    spans = Span.objects.filter(namespace_id=namespace_id, trace_id__in=trace_ids).order_by()
    changed: dict[tuple[str, str, str, str], list[int]] = {}
    for pk, attributes, resource, *stored in spans.values_list("pk", "attributes", "resource", *_JOB_COLUMNS):
        result.spans += 1
        values = extractor.job_values(attributes, resource)
        if values != tuple(stored):
            changed.setdefault(values, []).append(pk)
    for values, pks in changed.items():
        for i in range(0, len(pks), 2000):
            Span.objects.filter(pk__in=pks[i : i + 2000]).update(**dict(zip(_JOB_COLUMNS, values, strict=True)))
    return sum(len(pks) for pks in changed.values())


def _owned(namespace_id: int, trace_ids: list[str]) -> int:
    return (
        Trace.objects.filter(namespace_id=namespace_id, trace_id__in=trace_ids)
        .filter(Q(execution__isnull=False) | Q(shard__isnull=False))
        .count()
    )
