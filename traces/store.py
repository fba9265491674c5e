"""The one function that stores parsed spans: `store_spans(namespace, parsed_spans)`.

PostgreSQL: COPY straight into traces_span under a savepoint; when a span is already stored (a retry), COPY into a
per-connection temporary staging table instead, then one `INSERT ... SELECT ... ON CONFLICT DO NOTHING` (the ORM
cannot reach the ingest rate; COPY can). SQLite: `bulk_create(ignore_conflicts=True)`. Either way, in one
transaction: the spans, their SpanLink rows, the summaries of every touched trace (recomputed from the stored spans,
or, for a trace with no stored span before, from the rows written: see traces/summaries.py), then the post-store
steps (`traces.poststore.span_steps`, registered by the features that own them: linking the touched traces, Message
rows for the message ids spans carry; the list and its order are in jobs/poststore.py).

Idempotent: one row per (namespace, trace id, span id); the first copy of a span wins, so an exporter's retry or a
re-import changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from jobs.models import Namespace
from traces import locks, partitions, summaries
from traces.ingest.spans import ParsedSpan, dedupe
from traces.models import Span, SpanLink, StatusCode, Trace
from traces.poststore import StoredSpans, span_steps

_COLUMNS = (
    "namespace_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "service",
    "kind",
    "start_ns",
    "duration_ns",
    "status_code",
    "status_message",
    "attributes",
    "resource",
    "scope",
    "events",
    "links",
    "trace_state",
    "flags",
    "job_namespace",
    "job_name",
    "job_execution_id",
    "job_shard_id",
    "message_id",
    "correlation_id",
    "causation_id",
)
_TRACE_ID = _COLUMNS.index("trace_id")  # a COPY row's trace id
_START = _COLUMNS.index("start_ns")  # a COPY row's start, the partition key
# A COPY row's fields that summaries.SUMMARY_FIELDS names, in that order (the row holds them as stored).
_summary_fields = operator.itemgetter(*(_COLUMNS.index(name) for name in summaries.SUMMARY_FIELDS))
_STAGE = "jobtrace_span_stage3"  # "3": JSON columns as json (a new name, not an old session's shape)
_STAGE_DDL = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (
    ord integer, namespace_id bigint, trace_id text, span_id text, parent_span_id text, name text, service text,
    kind smallint, start_ns bigint, duration_ns bigint, status_code smallint, status_message text,
    attributes json, resource json, scope json, events json, links json, trace_state text, flags bigint,
    job_namespace text, job_name text, job_execution_id text, job_shard_id text, message_id text,
    correlation_id text, causation_id text, received_at timestamptz
) ON COMMIT DELETE ROWS
"""
_COLS = ", ".join(_COLUMNS)
# Constant column and table names only: nothing from a request is formatted into this SQL.
_INSERT = f"""
INSERT INTO traces_span ({_COLS}, received_at)
SELECT {_COLS}, received_at FROM {_STAGE} ORDER BY ord
ON CONFLICT (namespace_id, trace_id, span_id, start_ns) DO NOTHING
RETURNING trace_id, span_id
"""  # noqa: S608
_COPY = f"COPY traces_span ({_COLS}, received_at) FROM STDIN"

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False).encode


def _dumps(value: Any) -> str:
    """JSON text for a span's JSON column, by orjson (a third of the stdlib encoder's time on the ingest path).
    orjson writes NaN and ±Infinity as `null` and escapes NUL as `\\u0000`: any output holding either (rare: a
    null AnyValue, a NUL, a string containing "null") is encoded again by `_dumps_careful`, as is anything orjson
    refuses (integers beyond 64 bits, lone surrogates)."""
    try:
        raw = orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        return _dumps_careful(value)
    if b"null" in raw or b"\\u0000" in raw:
        return _dumps_careful(value)
    return raw.decode()


def _dumps_careful(value: Any) -> str:
    """JSON text for a span's JSON column. PostgreSQL's text (and `->>`) cannot hold NUL (\\u0000): such strings
    get U+FFFD. NaN and ±Infinity are valid OTLP doubles but not JSON: they are kept as proto3's JSON spells them
    ("NaN", "Infinity", "-Infinity")."""
    try:
        text = _encode(value)
    except ValueError:
        value = _finite(value)
        text = _encode(value)
    if "\\u0000" in text:
        text = _encode(_without_nul(value))
    return text


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


@dataclass
class StoreResult:
    received: int = 0  # spans handed in (after parsing)
    inserted: int = 0  # new rows
    duplicates: int = 0  # already stored, or repeated within the batch (kept once)
    traces: list[str] = field(default_factory=list)  # touched trace ids

    @property
    def stored(self) -> int:
        """Spans that are now stored (new or already there): every accepted span."""
        return self.inserted + self.duplicates


# What a span kept in summaries-only mode carries in its scope, so the trace page knows to fetch the whole trace.
SUMMARY_ONLY_SCOPE = {"jobtrace.summary_only": True}


def store_spans(
    namespace: Namespace | int, parsed_spans: Sequence[ParsedSpan], *, storage: str | None = None
) -> StoreResult:
    """Store spans in a namespace; recompute the touched traces' summaries and links. Atomic.

    `storage` (default settings.JOBTRACE_SPAN_STORAGE): "all", or "summaries": the spans of a trace with no error
    (in this batch or stored before) are kept without their attributes, resource, scope, events and links (the
    columns the summaries, linking, idempotence and the trace page's outline are computed from stay), marked with
    SUMMARY_ONLY_SCOPE; failed traces' spans are kept whole. Span links and message rows are written either way."""
    namespace_id = namespace if isinstance(namespace, int) else namespace.pk
    unique = dedupe(list(parsed_spans))
    result = StoreResult(received=len(parsed_spans))
    if not unique:
        return result
    trace_ids = sorted({s.trace_id for s in unique})
    result.traces = trace_ids
    summaries_only = (storage or settings.JOBTRACE_SPAN_STORAGE) == "summaries"
    with transaction.atomic():
        written = _summary_only(namespace_id, unique) if summaries_only else unique
        if connection.vendor == "postgresql":
            locks.lock(
                namespace_id,
                trace_ids,
                {s.job_execution_id for s in unique if s.job_execution_id},
                {s.job_shard_id for s in unique if s.job_shard_id},
            )
            new = summaries.new_traces(namespace_id, trace_ids)  # under the lock, before writing
            rows = list(_rows(namespace_id, written, timezone.now()))
            try:
                keys = _copy_insert(rows)
            except (psycopg.Error, DatabaseError) as exc:
                if not partitions.is_missing_partition(exc):
                    raise
                # A day with no partition yet (a clock far off, spans replayed from long ago): create it, again.
                partitions.create_for_values(partitions.SPANS, {row[_START] for row in rows})
                keys = _copy_insert(rows)
            stored = unique if keys is None else [s for s in unique if (s.trace_id, s.span_id) in keys]
            # A new trace's stored spans are exactly its rows here: summarised from them, not read back.
            summaries.store_new(namespace_id, (_summary_fields(row) for row in rows if row[_TRACE_ID] in new))
            summaries.recompute(namespace_id, [t for t in trace_ids if t not in new])
        else:
            inserted = {(s.trace_id, s.span_id) for s in _orm_insert(namespace_id, written)}
            stored = [s for s in unique if (s.trace_id, s.span_id) in inserted]
            summaries.recompute(namespace_id, trace_ids)
        # Links of the spans this call stored: a resent span that differs from the stored copy (the first copy
        # wins) must not add links that no stored span holds. The steps are told which spans were stored, too.
        _store_links(namespace_id, stored)
        span_steps.run(StoredSpans(namespace_id, trace_ids, received=unique, stored=stored))
    result.inserted = len(stored)
    result.duplicates = len(parsed_spans) - len(stored)
    return result


def _summary_only(namespace_id: int, spans: list[ParsedSpan]) -> list[ParsedSpan]:
    """The spans as summaries-only mode stores them: whole for a trace with an error (in the batch, or already
    summarised with one), else without the bodies that only the trace page reads."""
    failed = {s.trace_id for s in spans if s.status_code == StatusCode.ERROR}
    others = {s.trace_id for s in spans} - failed
    if others:
        failed |= set(
            Trace.objects.filter(namespace_id=namespace_id, trace_id__in=others, error_count__gt=0).values_list(
                "trace_id", flat=True
            )
        )
    return [
        s
        if s.trace_id in failed
        else dataclasses.replace(s, attributes={}, resource={}, scope=SUMMARY_ONLY_SCOPE, events=[], links=[])
        for s in spans
    ]


def _ensure_stage(cursor: Any) -> None:
    # Every time (a catalog lookup): a rolled-back transaction also rolls back the table's creation.
    cursor.execute(_STAGE_DDL)


def _rows(namespace_id: int, spans: Iterable[ParsedSpan], received_at: Any) -> Iterator[tuple[Any, ...]]:
    """COPY rows, in `_COLUMNS` order then received_at. Resources and scopes are shared by many spans: serialised
    once each. The hot path of ingest: no call per text field (one NUL check over all of a span's text)."""
    cache: dict[int, str] = {}
    dumps = _dumps
    for s in spans:
        resource, scope = s.resource, s.scope
        r = cache.get(id(resource))
        if r is None:
            r = cache[id(resource)] = dumps(resource)
        sc = cache.get(id(scope))
        if sc is None:
            sc = cache[id(scope)] = dumps(scope)
        name, service, status_message, trace_state = s.name, s.service, s.status_message, s.trace_state
        job = (s.job_namespace, s.job_name, s.job_execution_id, s.job_shard_id, s.message_id, s.correlation_id)
        causation = s.causation_id
        if "\x00" in f"{name}{service}{status_message}{trace_state}{''.join(job)}{causation}":
            name, service, status_message, trace_state = map(_text, (name, service, status_message, trace_state))
            job = tuple(map(_text, job))
            causation = _text(causation)
        yield (
            namespace_id,
            s.trace_id,
            s.span_id,
            s.parent_span_id,
            name,
            service if len(service) <= 255 else service[:255],
            s.kind,
            s.start_ns,
            s.duration_ns,
            s.status_code,
            status_message,
            dumps(s.attributes) if s.attributes else "{}",
            r,
            sc,
            dumps(s.events) if s.events else "[]",
            dumps(s.links) if s.links else "[]",
            trace_state,
            s.flags,
            *job,
            causation,
            received_at,
        )


def _text(value: str) -> str:
    """PostgreSQL text cannot hold NUL characters; OTLP strings can."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _copy_insert(rows: list[tuple[Any, ...]]) -> set[tuple[str, str]] | None:
    """COPY the rows. None when every row was new (the fast path); else the (trace id, span id) of those that were."""
    # Fast path: COPY straight into traces_span (rows written as built: binary-free text COPY, psycopg's C writer).
    # A span already stored (an exporter's retry, a re-import) makes it fail on the unique constraint; the savepoint
    # is then rolled back and the rows take the staging path below.
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(_COPY) as copy:
                write = copy.write_row
                for row in rows:
                    write(row)
            return None
    except psycopg.errors.UniqueViolation:
        pass
    # In a savepoint of its own too: a row whose day has no partition fails here as well, and the writer retries.
    with transaction.atomic(), connection.cursor() as cursor:
        _ensure_stage(cursor)
        with cursor.cursor.copy(f"COPY {_STAGE} (ord, {_COLS}, received_at) FROM STDIN") as copy:
            for i, row in enumerate(rows):
                copy.write_row((i, *row))
        cursor.execute(_INSERT)
        inserted = {(trace_id, span_id) for trace_id, span_id in cursor.fetchall()}
        cursor.execute(f"TRUNCATE {_STAGE}")
    return inserted


def _orm_insert(namespace_id: int, spans: list[ParsedSpan]) -> list[ParsedSpan]:
    """SQLite: insert the spans not stored yet; returns them. (SQLite serialises writers, so what is read here
    holds for the write; INSERT OR IGNORE stays as the guard.) SQLite's INSERT OR IGNORE also ignores JSONField's
    JSON_VALID check: a NaN left in would drop the span silently, so JSON values are made finite first (as the COPY
    path does)."""
    stored = set(
        Span.objects.filter(namespace_id=namespace_id, trace_id__in={s.trace_id for s in spans}).values_list(
            "trace_id", "span_id"
        )
    )
    spans = [s for s in spans if (s.trace_id, s.span_id) not in stored]
    now = timezone.now()
    objs = [
        Span(
            namespace_id=namespace_id,
            trace_id=s.trace_id,
            span_id=s.span_id,
            parent_span_id=s.parent_span_id,
            name=s.name,
            service=s.service[:255],
            kind=s.kind,
            start_ns=s.start_ns,
            duration_ns=s.duration_ns,
            status_code=s.status_code,
            status_message=s.status_message,
            attributes=_finite(s.attributes),
            resource=_finite(s.resource),
            scope=_finite(s.scope),
            events=_finite(s.events),
            links=_finite(s.links),
            trace_state=s.trace_state,
            flags=s.flags,
            job_namespace=s.job_namespace,
            job_name=s.job_name,
            job_execution_id=s.job_execution_id,
            job_shard_id=s.job_shard_id,
            message_id=s.message_id,
            correlation_id=s.correlation_id,
            causation_id=s.causation_id,
            received_at=now,
        )
        for s in spans
    ]
    Span.objects.bulk_create(objs, ignore_conflicts=True, batch_size=500)
    return spans


def _store_links(namespace_id: int, spans: list[ParsedSpan]) -> None:
    rows = [
        SpanLink(
            namespace_id=namespace_id,
            trace_id=s.trace_id,
            span_id=s.span_id,
            linked_trace_id=str(link.get("trace_id", ""))[:32],
            linked_span_id=str(link.get("span_id", ""))[:16],
            ref_type=_text(str(link.get("ref_type") or "link"))[:16],
            attributes=_finite(_without_nul(link.get("attributes") or {})),
        )
        for s in spans
        if s.links
        for link in s.links
        if link.get("trace_id") and link.get("span_id")
    ]
    if rows:
        SpanLink.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
