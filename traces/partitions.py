"""Daily range partitions on PostgreSQL, for any table partitioned by a time column (the spans; the log records
next): naming, creating the days ahead, creating a day on demand, and expiring whole days.

A partitioned table is described by a `Partitioned(table, column, per_second)`: its name, the column it is
partitioned by, and that column's units per second (1e9 for the spans' `start_ns`). Day `d`'s partition is
`<table>_pYYYYMMDD`, holding `[d 00:00 UTC, d+1 00:00 UTC)` in the column's units.

Expiring a day detaches its partition and drops it: no row is deleted one by one, whatever the day holds. Outside
a transaction the detach is `DETACH PARTITION ... CONCURRENTLY` (PostgreSQL 14+: writers into other days are not
blocked while it waits); inside one (tests, a caller's atomic block) a plain detach, which takes the parent's lock
for the moment it runs. There is no default partition, since a default partition forbids the concurrent detach: a
row for a day without a partition (a clock far off, a span replayed from long ago) makes the writer create that
day (`create_days`) and write again.

Nothing here runs on SQLite: `is_partitioned` is False there and the callers delete in bounded batches instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg
from django.db import connection, transaction

DAY_SECONDS = 86_400


@dataclass(frozen=True)
class Partitioned:
    table: str  # a constant table name, never from a request
    column: str  # the range partition key
    per_second: int  # the column's units per second

    def day_of(self, value: int) -> date:
        return datetime.fromtimestamp(value // self.per_second, tz=UTC).date()

    def bounds(self, day: date) -> tuple[int, int]:
        start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * self.per_second
        return start, start + DAY_SECONDS * self.per_second

    def name_of(self, day: date) -> str:
        return f"{self.table}_p{day:%Y%m%d}"


SPANS = Partitioned("traces_span", "start_ns", 1_000_000_000)
LOGS = Partitioned("traces_logrecord", "time_ns", 1_000_000_000)
TABLES = (SPANS, LOGS)


def is_partitioned(spec: Partitioned) -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE relname = %s AND relkind = 'p'", [spec.table])
        return cursor.fetchone() is not None


def days(spec: Partitioned) -> dict[date, str]:
    """The days that have a partition (attached, or detached but not yet dropped), with the partition's name."""
    pattern = re.compile(re.escape(spec.table) + r"_p(\d{8})$")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [spec.table],
        )
        names = [row[0] for row in cursor.fetchall()]
    out = {}
    for name in names:
        found = pattern.match(name)
        if found:
            out[datetime.strptime(found.group(1), "%Y%m%d").replace(tzinfo=UTC).date()] = name
    return out


def create_days(spec: Partitioned, wanted: Iterable[date]) -> list[str]:
    """Create the partitions of these days that do not exist yet; returns the names created."""
    have = days(spec)
    created = []
    with connection.cursor() as cursor:
        for day in sorted(set(wanted) - set(have)):
            low, high = spec.bounds(day)
            name = spec.name_of(day)
            # Constant names and integers only: nothing from a request is formatted into this DDL.
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {spec.table} FOR VALUES FROM ({low}) TO ({high})"
            )
            created.append(name)
    return created


def create_for_values(spec: Partitioned, values: Iterable[int]) -> list[str]:
    """The partitions for rows with these partition-key values (the writer's fallback for a missing day)."""
    wanted = {spec.day_of(v) for v in values}
    created = create_days(spec, wanted)
    _remember(spec, wanted)
    return created


def _remember(spec: Partitioned, wanted: set[date]) -> None:
    """Cache the days once they are committed: a partition created in a transaction that rolls back is gone."""
    transaction.on_commit(lambda: _known.setdefault(spec.table, set()).update(wanted))


# Days this process has seen a committed partition for: the ORM's writes (Span.save, bulk_create: tests, the
# admin, not the ingest path) check here first and read the catalog only for a day not seen yet.
_known: dict[str, set[date]] = {}


def ensure_for_values(spec: Partitioned, values: Iterable[int]) -> None:
    """Before an ORM write: the partitions of these values' days exist (PostgreSQL, partitioned; else nothing)."""
    if connection.vendor != "postgresql":
        return
    wanted = {spec.day_of(v) for v in values}
    if wanted <= _known.get(spec.table, set()):
        return
    if is_partitioned(spec):
        create_days(spec, wanted)
        _remember(spec, wanted)


def ensure_ahead(spec: Partitioned, today: date, ahead: int) -> list[str]:
    """Today's partition and the `ahead` days after it."""
    return create_days(spec, [today + timedelta(days=i) for i in range(ahead + 1)])


def expire_before(spec: Partitioned, first_kept: date) -> list[str]:
    """Detach and drop every partition of a day before `first_kept`; returns the names dropped."""
    dropped = []
    for day, name in sorted(days(spec).items()):
        if day >= first_kept:
            continue
        _detach(spec, name)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
        _known.get(spec.table, set()).discard(day)
        dropped.append(name)
    return dropped


def _detach(spec: Partitioned, name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.inhdetachpending FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relname = %s",
            [name],
        )
        row = cursor.fetchone()
        if row is None:
            return  # already detached
        if row[0]:  # a concurrent detach that was interrupted: finish it
            cursor.execute(f"ALTER TABLE {spec.table} DETACH PARTITION {name} FINALIZE")
        elif connection.in_atomic_block:
            cursor.execute(f"ALTER TABLE {spec.table} DETACH PARTITION {name}")
        else:
            cursor.execute(f"ALTER TABLE {spec.table} DETACH PARTITION {name} CONCURRENTLY")


def is_missing_partition(exc: BaseException) -> bool:  # for any partitioned table
    """Whether a write failed because no partition holds one of its rows' days."""
    for error in (exc, exc.__cause__):
        if isinstance(error, psycopg.errors.CheckViolation) and "no partition of relation" in str(error):
            return True
    return False
