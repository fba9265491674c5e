"""The one function that stores parsed log records: `store_logs(namespace, records)`.

In one transaction, under the span writer's advisory locks on the batch's trace and job ids (so a span or record
write that would change these records' owner either committed before, and is seen here, or waits and relinks them
after): the owners (traces/logs/linking.py), then the rows. PostgreSQL: COPY straight into traces_logrecord under a
savepoint; when a record is already stored (an exporter's retry), COPY into a temporary staging table instead and
`INSERT ... SELECT ... ON CONFLICT (namespace_id, time_ns, record_hash) DO NOTHING` (time_ns is also the
partition key on PostgreSQL, traces/partitions.py). SQLite:
`bulk_create(ignore_conflicts)`.

Idempotent: one row per (namespace, time, record hash); the first copy wins, so a retry changes nothing. (A record
with neither time set is stamped with the receive time: a retry of such a record is stored again.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from jobs.models import Namespace
from traces import locks, partitions
from traces.logs import linking
from traces.logs.ingest import ParsedLog
from traces.logs.models import LogRecord
from traces.store import _dumps, _finite, _text, _without_nul

COLUMNS = (
    "namespace_id",
    "record_hash",
    "time_ns",
    "time_unix_nano",
    "observed_time_unix_nano",
    "severity_number",
    "severity_text",
    "body",
    "body_text",
    "attributes",
    "resource",
    "scope",
    "service",
    "trace_id",
    "span_id",
    "flags",
    "event_name",
    "dropped_attributes_count",
    "job_namespace",
    "job_name",
    "job_execution_id",
    "job_shard_id",
    "execution_id",
    "shard_id",
    "job_id",
    "received_at",
)
_COLS = ", ".join(COLUMNS)
_TIME = COLUMNS.index("time_ns")  # a COPY row's time, the partition key
_STAGE = "jobtrace_log_stage1"
_STAGE_DDL = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (
    ord integer, namespace_id bigint, record_hash text, time_ns bigint, time_unix_nano bigint,
    observed_time_unix_nano bigint, severity_number smallint, severity_text text, body json, body_text text,
    attributes json, resource json, scope json, service text, trace_id text, span_id text, flags bigint,
    event_name text, dropped_attributes_count bigint, job_namespace text, job_name text, job_execution_id text,
    job_shard_id text, execution_id bigint, shard_id bigint, job_id bigint, received_at timestamptz
) ON COMMIT DELETE ROWS
"""
# Constant column and table names only: nothing from a request is formatted into this SQL.
_INSERT = f"""
INSERT INTO traces_logrecord ({_COLS})
SELECT {_COLS} FROM {_STAGE} ORDER BY ord
ON CONFLICT (namespace_id, time_ns, record_hash) DO NOTHING
"""  # noqa: S608
COPY_SQL = f"COPY traces_logrecord ({_COLS}) FROM STDIN"


@dataclass
class LogStoreResult:
    received: int = 0
    inserted: int = 0
    duplicates: int = 0


def _dedupe(records: Sequence[ParsedLog]) -> list[ParsedLog]:
    seen: set[str] = set()
    out = []
    for r in records:
        if r.record_hash not in seen:
            seen.add(r.record_hash)
            out.append(r)
    return out


def store_logs(namespace: Namespace | int, records: Sequence[ParsedLog]) -> LogStoreResult:
    """Store log records in a namespace, linked to their owners. Atomic and idempotent."""
    namespace_id = namespace if isinstance(namespace, int) else namespace.pk
    unique = _dedupe(records)
    result = LogStoreResult(received=len(records))
    if not unique:
        return result
    with transaction.atomic():
        locks.lock(
            namespace_id,
            {r.trace_id for r in unique if r.trace_id},
            {r.job_execution_id for r in unique if r.job_execution_id},
            {r.job_shard_id for r in unique if r.job_shard_id},
        )
        found = linking.owners(
            namespace_id,
            [
                linking.LogKey(r.trace_id, r.span_id, r.job_namespace, r.job_name, r.job_execution_id, r.job_shard_id)
                for r in unique
            ],
        )
        rows = list(rows_of(namespace_id, unique, found))
        if connection.vendor == "postgresql":
            try:
                inserted = _copy_insert(rows)
            except (psycopg.Error, DatabaseError) as exc:
                if not partitions.is_missing_partition(exc):
                    raise
                # A day with no partition yet (a clock far off, records replayed from long ago): create it, again.
                partitions.create_for_values(partitions.LOGS, {row[_TIME] for row in rows})
                inserted = _copy_insert(rows)
        else:
            inserted = _orm_insert(rows)
    result.inserted = inserted
    result.duplicates = len(records) - inserted
    return result


def rows_of(
    namespace_id: int, records: Sequence[ParsedLog], found: Sequence[linking.Owner]
) -> Iterator[tuple[Any, ...]]:
    """COPY rows in COLUMNS order. Resources and scopes are shared by many records: serialised once each."""
    now = timezone.now()
    now_ns = time.time_ns()
    cache: dict[int, str] = {}
    dumps = _dumps
    for r, (execution, shard, job) in zip(records, found, strict=True):
        resource, scope = r.resource, r.scope
        res = cache.get(id(resource))
        if res is None:
            res = cache[id(resource)] = dumps(resource)
        sc = cache.get(id(scope))
        if sc is None:
            sc = cache[id(scope)] = dumps(scope)
        body = r.body
        texts = (
            r.severity_text,
            r.service,
            r.event_name,
            r.job_namespace,
            r.job_name,
            r.job_execution_id,
            r.job_shard_id,
        )
        if "\x00" in "".join(texts):
            texts = tuple(map(_text, texts))
        severity_text, service, event_name, job_ns, job_name, job_exec, job_shard = texts
        yield (
            namespace_id,
            r.record_hash,
            r.time_ns or now_ns,
            r.time_unix_nano,
            r.observed_time_unix_nano,
            r.severity_number,
            severity_text,
            None if body is None else dumps(body),
            r.body_text,
            dumps(r.attributes) if r.attributes else "{}",
            res,
            sc,
            service,
            r.trace_id,
            r.span_id,
            r.flags,
            event_name,
            r.dropped_attributes_count,
            job_ns,
            job_name,
            job_exec,
            job_shard,
            execution,
            shard,
            job,
            now,
        )


def _copy_insert(rows: list[tuple[Any, ...]]) -> int:
    """COPY the rows; returns how many were new."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(COPY_SQL) as copy:
                write = copy.write_row
                for row in rows:
                    write(row)
            return len(rows)
    except psycopg.errors.UniqueViolation:
        pass  # a retry: some records are stored already
    # In a savepoint of its own too: a row whose day has no partition fails here as well, and the writer retries.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_STAGE_DDL)
        with cursor.cursor.copy(f"COPY {_STAGE} (ord, {_COLS}) FROM STDIN") as copy:
            for i, row in enumerate(rows):
                copy.write_row((i, *row))
        cursor.execute(_INSERT)
        inserted = cursor.rowcount
        cursor.execute(f"TRUNCATE {_STAGE}")
    return inserted


def _orm_insert(rows: list[tuple[Any, ...]]) -> int:
    """SQLite: the records not stored yet (SQLite serialises writers; INSERT OR IGNORE stays as the guard)."""
    stored: set[str] = set()
    for i in range(0, len(rows), 400):
        chunk = rows[i : i + 400]
        stored.update(
            LogRecord.objects.filter(
                namespace_id=rows[0][0],
                time_ns__in={row[2] for row in chunk},
                record_hash__in=[row[1] for row in chunk],
            ).values_list("record_hash", flat=True)
        )
    objs = []
    for row in rows:
        if row[1] in stored:
            continue
        values = dict(zip(COLUMNS, row, strict=True))
        for name in ("body", "attributes", "resource", "scope"):
            raw = values[name]
            values[name] = None if raw is None else _finite(_without_nul(_loads(raw)))
        objs.append(LogRecord(**values))
    LogRecord.objects.bulk_create(objs, ignore_conflicts=True, batch_size=500)
    return len(objs)


def _loads(text: str) -> Any:
    import json

    return json.loads(text)
