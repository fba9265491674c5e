"""The one write path for execution and shard records: `upsert_executions` and `upsert_shards`.

Set-based and race-free: per batch, one query resolves the jobs (creating unknown ones with ON CONFLICT DO NOTHING),
one resolves the executions (shards only; missing ones become placeholders the same way), then one
`INSERT ... ON CONFLICT (...) DO UPDATE SET col = CASE ... END ... WHERE <something changed> RETURNING ...` stores
every record. The merge rules live in that SQL, so two requests racing on one row cannot undo each other:

- A record is *current* when it is for a later attempt, or for the same attempt with a status of equal or higher
  rank (pending < running < terminal; `jobs.choices.STATUS_RANK`), or when the stored execution is a placeholder.
  A record without `attempt` speaks for the stored attempt; one without `status` does not claim a status.
- A current record overwrites the fields it sends. A stale one (late `running` after `failed`, or an older
  attempt) only fills fields that are still empty, and never touches status or attempt; an older attempt never
  fills attempt-scoped fields (started/finished times, worker, error).
- A later attempt resets the attempt-scoped fields it does not send, so attempt 2 `running` does not show attempt
  1's error or finish time.
- Fields a record does not send (None in the dataclass) keep their stored value.
- `duration_ms` is recomputed from the resulting started/finished times; `placeholder` is cleared by an execution.
- A row is only written when something changes, so sending a batch twice leaves exactly the state of sending it
  once (even `updated_at`), and only changed rows reach the linking hook.

Records for the same key within one batch are applied in order, in "rounds" (PostgreSQL refuses to touch one row
twice in a statement); records that send different sets of fields go in separate statements (the SET list depends
on which fields were sent). A typical batch is one statement. Rows are sorted by key inside each statement so
concurrent batches take row locks in the same order.

SQL is written once for PostgreSQL and SQLite (>= 3.35: upsert with `excluded.` and RETURNING); the per-vendor
pieces are small: how rows travel (PostgreSQL: the whole group as one JSON parameter read by
`json_populate_recordset`, so the statement stays short and binding is one `json.dumps`; SQLite: a VALUES list,
chunked under its parameter limit) and three expressions (JSON emptiness, "is distinct from", milliseconds
between).

The rows created or changed then go to the post-store steps (`jobs.poststore.record_steps`: linking the spans that
name them, the message envelopes of executions), inside the same transaction, so records and what follows from them
commit together (a failing step rolls the batch back and the client retries; ingest is idempotent). Shards handed
to them are built from RETURNING (id, namespace, execution, shard id, status, attempt, trace and span id loaded;
other fields deferred, i.e. one query each if touched); executions are read whole.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache, lru_cache
from typing import Any, Literal

from django.db import connection, transaction
from django.db.models.base import DEFERRED
from django.utils import timezone

from jobs.choices import STATUS_RANK, RunStatus, Trigger
from jobs.ingest import ExecutionRecord, ShardRecord
from jobs.models import Execution, Job, Namespace, Shard
from jobs.poststore import StoredRecords, record_steps

_MS = timedelta(milliseconds=1)

Kind = Literal["text", "null", "json"]


@dataclass(frozen=True, slots=True)
class _Col:
    attr: str  # the record attribute and the model field
    kind: Kind  # how "empty" is tested: '' / NULL / {}
    scoped: bool = False  # belongs to one attempt: reset when a later attempt arrives without it


_EXECUTION_COLS = (
    _Col("trigger", "text"),
    _Col("scheduled_at", "null"),
    _Col("started_at", "null", scoped=True),
    _Col("finished_at", "null", scoped=True),
    _Col("worker", "text", scoped=True),
    _Col("params", "json"),
    _Col("error", "text", scoped=True),
    _Col("trace_id", "text"),
    _Col("sampled", "null"),
    _Col("message_id", "text"),
    _Col("correlation_id", "text"),
    _Col("causation_id", "text"),
    _Col("envelope_trace_id", "text"),
    _Col("tenant_id", "text"),
    _Col("event_type", "text"),
    _Col("operation", "text"),
)
_SHARD_COLS = (
    _Col("parent_shard_id", "text"),
    _Col("index", "null"),
    _Col("labels", "json"),
    _Col("worker", "text", scoped=True),
    _Col("started_at", "null", scoped=True),
    _Col("finished_at", "null", scoped=True),
    _Col("error", "text", scoped=True),
    _Col("trace_id", "text"),
    _Col("span_id", "text"),
)


@dataclass
class WriteResult:
    """What one upsert did. `executions`/`shards` are the rows created or changed (what linking must look at)."""

    received: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    executions: list[Execution] = field(default_factory=list)
    shards: list[Shard] = field(default_factory=list)
    placeholders_created: int = 0
    jobs_created: int = 0

    def as_counts(self) -> dict[str, int]:
        return {
            "received": self.received,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }


# --- public API ------------------------------------------------------------------------------------------------


def upsert_executions(namespace: Namespace, records: Sequence[ExecutionRecord]) -> WriteResult:
    """Store execution records for one namespace (the caller has checked the caller may write it)."""
    result = WriteResult(received=len(records))
    if not records:
        return result
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        job_ids, result.jobs_created = _job_ids(namespace, {r.job for r in records})
        table = _Table.executions()
        vendor = _Vendor.current()

        def row(r: ExecutionRecord) -> list[Any]:
            return table.insert_row(r, (namespace.pk, job_ids[r.job], r.execution_id), now, vendor)

        created, changed = _upsert(table, records, lambda r: (job_ids[r.job], r.execution_id), row)
        keys = {(job_ids[r.job], r.execution_id) for r in records}
        result.created = len(created)
        result.updated = len(changed.keys() - created)
        result.unchanged = len(keys) - len(changed)
        if changed:
            result.executions = list(Execution.objects.filter(pk__in=list(changed)).order_by("pk"))
        record_steps.run(StoredRecords(executions=result.executions, shards=[]))
    return result


def upsert_shards(namespace: Namespace, records: Sequence[ShardRecord]) -> WriteResult:
    """Store shard records for one namespace; unknown jobs and executions are created (executions as placeholders)."""
    result = WriteResult(received=len(records))
    if not records:
        return result
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        job_ids, result.jobs_created = _job_ids(namespace, {r.job for r in records})
        run_ids, placeholders = _execution_ids(namespace, {(job_ids[r.job], r.execution_id) for r in records}, now)
        result.placeholders_created = len(placeholders)
        table = _Table.shards()
        vendor = _Vendor.current()

        def run_of(r: ShardRecord) -> int:
            return run_ids[(job_ids[r.job], r.execution_id)]

        def row(r: ShardRecord) -> list[Any]:
            return table.insert_row(r, (namespace.pk, run_of(r), r.shard_id), now, vendor)

        created, changed = _upsert(table, records, lambda r: (run_of(r), r.shard_id), row)
        keys = {(run_of(r), r.shard_id) for r in records}
        result.created = len(created)
        result.updated = len(changed.keys() - created)
        result.unchanged = len(keys) - len(changed)
        result.shards = _returned_shards(table, changed)
        if placeholders:
            result.executions = list(Execution.objects.filter(pk__in=placeholders).order_by("pk"))
        record_steps.run(StoredRecords(executions=result.executions, shards=result.shards))
    return result


# --- resolving parents -----------------------------------------------------------------------------------------


def _job_ids(namespace: Namespace, names: set[str]) -> tuple[dict[str, int], int]:
    """name -> id for every named job, creating the unknown ones (ON CONFLICT DO NOTHING, then read back)."""
    found = dict(Job.objects.filter(namespace=namespace, name__in=names).values_list("name", "id"))
    missing = names - found.keys()
    if missing:
        Job.objects.bulk_create([Job(namespace=namespace, name=n) for n in sorted(missing)], ignore_conflicts=True)
        found.update(Job.objects.filter(namespace=namespace, name__in=missing).values_list("name", "id"))
    return found, len(missing)


def _execution_ids(
    namespace: Namespace, keys: set[tuple[int, str]], now: datetime
) -> tuple[dict[tuple[int, str], int], list[int]]:
    """(job id, execution id) -> row id, creating placeholders for executions not reported yet."""
    job_ids = {job_id for job_id, _ in keys}
    run_ids = {execution_id for _, execution_id in keys}

    def lookup(jobs: set[int], runs: set[str]) -> dict[tuple[int, str], int]:
        rows = Execution.objects.filter(job_id__in=jobs, execution_id__in=runs).values_list(
            "job_id", "execution_id", "id"
        )
        return {(j, e): pk for j, e, pk in rows if (j, e) in keys}

    found = lookup(job_ids, run_ids)
    missing = sorted(keys - found.keys())
    if not missing:
        return found, []
    Execution.objects.bulk_create(
        [
            Execution(
                namespace=namespace,
                job_id=job_id,
                execution_id=execution_id,
                status=RunStatus.PENDING,
                placeholder=True,
                received_at=now,
                updated_at=now,
            )
            for job_id, execution_id in missing
        ],
        ignore_conflicts=True,
    )
    added = lookup({j for j, _ in missing}, {e for _, e in missing})
    found.update(added)
    return found, sorted(added.values())


def _returned_shards(table: _Table, changed: dict[int, tuple[Any, ...]]) -> list[Shard]:
    """Shards built from RETURNING (no second read): keys, status and trace ids loaded, other fields deferred."""
    names = ["id", *table.returning]
    # Every concrete field by position, DEFERRED where RETURNING has no value: Model.from_db's fast path.
    attnames = [f.attname for f in Shard._meta.concrete_fields]
    where = [names.index(a) if a in names else None for a in attnames]
    return [
        Shard.from_db(connection.alias, attnames, [DEFERRED if i is None else row[i] for i in where])
        for row in ((pk, *changed[pk]) for pk in sorted(changed))
    ]


# --- the upsert ------------------------------------------------------------------------------------------------


def _upsert(
    table: _Table,
    records: Sequence[Any],
    key: Callable[[Any], tuple[int, str]],
    row: Callable[[Any], list[Any]],
) -> tuple[set[int], dict[int, tuple[Any, ...]]]:
    """Run the statements for a batch: (ids created, {id created or changed: its `table.returning` values})."""
    vendor = _Vendor.current()
    created: set[int] = set()
    changed: dict[int, tuple[Any, ...]] = {}
    with connection.cursor() as cursor:
        for shape, group in _statements(records, key):
            head, tail = _sql(table.name, shape, vendor.name)
            ordered = sorted(group, key=key)
            if vendor.name == "postgresql":
                # The whole group as one JSON parameter read by json_populate_recordset: a short statement
                # whatever the batch size, and serialising it is one C-speed json.dumps.
                names = table.insert_columns
                document = json.dumps([dict(zip(names, row(record), strict=True)) for record in ordered])
                cursor.execute(f"{head} {tail}", [document])
                rows = cursor.fetchall()
            else:
                rows = []
                per_statement = max(1, vendor.max_params // len(table.insert_columns))
                for start in range(0, len(ordered), per_statement):
                    chunk = ordered[start : start + per_statement]
                    params = [value for record in chunk for value in row(record)]
                    cursor.execute(f"{head} {', '.join([table.row_placeholder] * len(chunk))} {tail}", params)
                    rows.extend(cursor.fetchall())
            for pk, inserted, *returned in rows:
                changed[pk] = tuple(returned)
                if inserted:
                    created.add(pk)
    return created, changed


def _statements(records: Iterable[Any], key: Callable[[Any], tuple[int, str]]) -> list[tuple[frozenset[str], list]]:
    """Group records into statements: the n-th record of a key goes in round n; within a round, by fields sent."""
    seen: Counter[tuple[int, str]] = Counter()
    groups: dict[tuple[int, frozenset[str]], list[Any]] = {}
    for record in records:
        k = key(record)
        round_ = seen[k]
        seen[k] += 1
        groups.setdefault((round_, record.sent()), []).append(record)
    return [(shape, groups[(r, shape)]) for r, shape in sorted(groups, key=lambda g: g[0])]


@dataclass(frozen=True)
class _Table:
    name: str  # "executions" | "shards"
    insert_columns: tuple[str, ...]
    row_placeholder: str
    insert_row: Callable[[Any, tuple[int, int, str], datetime, _Vendor], list[Any]]
    returning: tuple[str, ...] = ()  # model attributes RETURNING hands back besides the id

    @staticmethod
    @cache
    def executions() -> _Table:
        cols = (
            "namespace_id",
            "job_id",
            "execution_id",
            "status",
            "attempt",
            *(c.attr for c in _EXECUTION_COLS),
            "duration_ms",
            "placeholder",
            "received_at",
            "updated_at",
        )

        def insert_row(r: ExecutionRecord, keys: tuple[int, int, str], now: datetime, v: _Vendor) -> list[Any]:
            dt = v.datetime
            return [
                *keys,
                r.status or RunStatus.PENDING.value,
                r.attempt or 1,
                r.trigger or Trigger.SCHEDULED.value,
                dt(r.scheduled_at),
                dt(r.started_at),
                dt(r.finished_at),
                r.worker or "",
                v.json(r.params or {}),
                r.error or "",
                r.trace_id or "",
                r.sampled,
                r.message_id or "",
                r.correlation_id or "",
                r.causation_id or "",
                r.envelope_trace_id or "",
                r.tenant_id or "",
                r.event_type or "",
                r.operation or "",
                duration_ms(r.started_at, r.finished_at),
                False,
                dt(now),
                dt(now),
            ]

        return _Table("executions", cols, "(" + ", ".join(["%s"] * len(cols)) + ")", insert_row)

    @staticmethod
    @cache
    def shards() -> _Table:
        cols = (
            "namespace_id",
            "execution_id",
            "shard_id",
            "status",
            "attempt",
            *(c.attr for c in _SHARD_COLS),
            "duration_ms",
            "received_at",
            "updated_at",
        )

        def insert_row(r: ShardRecord, keys: tuple[int, int, str], now: datetime, v: _Vendor) -> list[Any]:
            dt = v.datetime
            return [
                *keys,
                r.status or RunStatus.PENDING.value,
                r.attempt or 1,
                r.parent_shard_id or "",
                r.index,
                v.json(r.labels or {}),
                r.worker or "",
                dt(r.started_at),
                dt(r.finished_at),
                r.error or "",
                r.trace_id or "",
                r.span_id or "",
                duration_ms(r.started_at, r.finished_at),
                dt(now),
                dt(now),
            ]

        returning = ("namespace_id", "execution_id", "shard_id", "status", "attempt", "trace_id", "span_id")
        return _Table("shards", cols, "(" + ", ".join(["%s"] * len(cols)) + ")", insert_row, returning)


def duration_ms(started: datetime | None, finished: datetime | None) -> int | None:
    """finished - started in whole milliseconds (half up), None when either is unknown or finished is earlier."""
    if started is None or finished is None or finished < started:
        return None
    return math.floor((finished - started) / _MS + 0.5)


@dataclass(frozen=True)
class _Vendor:
    name: str
    max_params: int
    datetime: Callable[[datetime | None], Any]
    json: Callable[[Any], Any]

    @staticmethod
    def current() -> _Vendor:
        return _vendor(connection.vendor)


@lru_cache(maxsize=4)
def _vendor(name: str) -> _Vendor:
    ops = connection.ops
    if name == "postgresql":
        # Rows travel as JSON (see _upsert): times as ISO 8601 text, JSON columns as they are.
        return _Vendor(name, 65535, lambda v: v.isoformat() if v is not None else None, lambda v: v)
    if name == "sqlite":
        import sqlite3

        try:
            limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # type: ignore[union-attr]
        except (AttributeError, sqlite3.Error):
            limit = 999
        return _Vendor(name, limit, ops.adapt_datetimefield_value, lambda v: ops.adapt_json_value(v, None))
    raise NotImplementedError(f"jobs.store supports PostgreSQL and SQLite, not {name}")


# --- SQL -------------------------------------------------------------------------------------------------------


def _rank(expr: str) -> str:
    whens = " ".join(f"WHEN '{status.value}' THEN {rank}" for status, rank in STATUS_RANK.items())
    return f"(CASE {expr} {whens} END)"


def _empty(expr: str, kind: Kind, vendor: str) -> str:
    if kind == "text":
        return f"{expr} = ''"
    if kind == "null":
        return f"{expr} IS NULL"
    return f"{expr} = '{{}}'::jsonb" if vendor == "postgresql" else f"{expr} = '{{}}'"


def _distinct(left: str, right: str, vendor: str) -> str:
    return f"{left} IS DISTINCT FROM {right}" if vendor == "postgresql" else f"{left} IS NOT {right}"


def _ms_between(started: str, finished: str, vendor: str) -> str:
    if vendor == "postgresql":
        return (
            f"CASE WHEN {finished} >= {started} "
            f"THEN CAST(FLOOR(EXTRACT(EPOCH FROM ({finished} - {started})) * 1000 + 0.5) AS BIGINT) END"
        )
    return (
        f"CASE WHEN julianday({finished}) >= julianday({started}) "
        f"THEN CAST(FLOOR((julianday({finished}) - julianday({started})) * 86400000.0 + 0.5) AS INTEGER) END"
    )


@lru_cache(maxsize=256)
def _sql(table_name: str, shape: frozenset[str], vendor: str) -> tuple[str, str]:
    """(`INSERT ... VALUES`, `ON CONFLICT ... RETURNING ...`) for one table, set of sent fields and vendor."""
    is_executions = table_name == "executions"
    model = Execution if is_executions else Shard
    table = _Table.executions() if is_executions else _Table.shards()
    specs = _EXECUTION_COLS if is_executions else _SHARD_COLS
    q = connection.ops.quote_name
    db_table = q(model._meta.db_table)

    def column(attr: str) -> str:
        return q(model._meta.get_field(attr).column)

    def t(attr: str) -> str:
        return f"{db_table}.{column(attr)}"

    def x(attr: str) -> str:
        return f"excluded.{column(attr)}"

    attempt_sent = "attempt" in shape
    newer = f"{x('attempt')} > {t('attempt')}" if attempt_sent else "FALSE"
    same = f"{x('attempt')} = {t('attempt')}" if attempt_sent else "TRUE"
    rank_ok = f"{_rank(x('status'))} >= {_rank(t('status'))}" if "status" in shape else "TRUE"
    current = f"({newer} OR ({same} AND {rank_ok}))"
    if is_executions:
        current = f"({t('placeholder')} OR {current})"

    sets: dict[str, str] = {}
    if "status" in shape:
        sets["status"] = f"CASE WHEN {current} THEN {x('status')} ELSE {t('status')} END"
    elif attempt_sent:
        sets["status"] = f"CASE WHEN {newer} THEN {x('status')} ELSE {t('status')} END"
    if attempt_sent:
        sets["attempt"] = f"CASE WHEN {current} THEN {x('attempt')} ELSE {t('attempt')} END"
    for spec in specs:
        if spec.attr in shape:
            fill = _empty(t(spec.attr), spec.kind, vendor)
            if spec.scoped:
                fill = f"{same} AND {fill}"
            sets[spec.attr] = (
                f"CASE WHEN {current} THEN {x(spec.attr)} WHEN {fill} THEN {x(spec.attr)} ELSE {t(spec.attr)} END"
            )
        elif spec.scoped and attempt_sent:
            # excluded holds the column's default, since the record did not send it.
            sets[spec.attr] = f"CASE WHEN {newer} THEN {x(spec.attr)} ELSE {t(spec.attr)} END"
    if is_executions:
        sets["placeholder"] = "FALSE"
    changes = " OR ".join(_distinct(t(attr), f"({expr})", vendor) for attr, expr in sets.items())
    if "started_at" in sets or "finished_at" in sets:
        started = f"({sets.get('started_at', t('started_at'))})"
        finished = f"({sets.get('finished_at', t('finished_at'))})"
        sets["duration_ms"] = _ms_between(started, finished, vendor)
    sets["updated_at"] = x("updated_at")

    key = ("job", "execution_id") if is_executions else ("execution", "shard_id")
    # Only quoted model identifiers and fixed keywords are formatted in; every value is a bound parameter.
    insert = f"INSERT INTO {db_table} ({', '.join(column(c) for c in table.insert_columns)})"
    if vendor == "postgresql":
        picked = ", ".join(f"r.{column(c)}" for c in table.insert_columns)
        head = f"{insert} SELECT {picked} FROM json_populate_recordset(NULL::{db_table}, %s::json) AS r"  # noqa: S608
    else:
        head = f"{insert} VALUES"
    assignments = ", ".join(f"{column(attr)} = {expr}" for attr, expr in sets.items())
    # Created by this request: both times are this request's `now` only on a row it inserted.
    inserted = f"{column('received_at')} = {column('updated_at')}"
    tail = (
        f"ON CONFLICT ({', '.join(column(k) for k in key)}) DO UPDATE SET {assignments}"
        f" WHERE {changes or 'FALSE'}"
        f" RETURNING {', '.join([column('id'), inserted, *(column(c) for c in table.returning)])}"
    )
    return head, tail
