"""Expiring one day of spans: detach + drop its partition vs a DELETE of the same rows, with ingest running meanwhile.

A fresh database (migrated: traces_span partitioned by day); BENCH_PRUNE_SPANS spans (default 300,000: what a
shared 2-core machine generates in well under a minute; the issue's 5 million is the same shape, bigger) generated
in the database with generate_series into a day 20 days ago, with all the table's indexes. Meanwhile one writer
COPYs 500-span batches into today's partition, each batch its own transaction, as the receiver does. Printed: the
writer's rate with nothing else running, the prune's duration, the writer's rate while it ran (as a ratio to the
first) and its slowest batch then. The day is expired twice: `DETACH PARTITION ... CONCURRENTLY` + `DROP TABLE`
(what `manage.py prune` does), then, the same rows generated again, a `DELETE` of them.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg

from bench._support import fresh_database

DAY_NS = 86_400 * 1_000_000_000
BATCH = 500
COLUMNS = (
    "namespace_id, trace_id, span_id, parent_span_id, name, service, kind, start_ns, duration_ns, status_code, "
    "status_message, attributes, resource, scope, events, links, trace_state, flags, job_namespace, job_name, "
    "job_execution_id, job_shard_id, message_id, correlation_id, causation_id, received_at"
)


def _generate(conn: psycopg.Connection, day_start: int, n: int) -> float:
    started = time.perf_counter()
    conn.execute(
        f"INSERT INTO traces_span ({COLUMNS}) SELECT 1, md5((g / 20)::text), substr(md5(g::text), 1, 16), "  # noqa: S608
        "substr(md5((g - 1)::text), 1, 16), 'op-' || (g %% 50), 'svc-' || (g %% 7), 2, %s + g::bigint * 1000, 5000, "
        '0, \'\', \'{"http.route": "/api/x", "n": 1}\', \'{"service.name": "svc"}\', \'{"name": "bench"}\', '
        "'[]', '[]', '', 0, '', '', '', '', '', '', '', now() FROM generate_series(1, %s) g",
        [day_start, n],
    )
    conn.execute("ANALYZE traces_span")
    return time.perf_counter() - started


class Writer(threading.Thread):
    """COPYs batches into today's partition until stopped; records (finished at, seconds) per batch."""

    def __init__(self, url: str, today_start: int) -> None:
        super().__init__(daemon=True)
        self.url, self.today_start = url, today_start
        self.stop = threading.Event()
        self.batches: list[tuple[float, float]] = []

    def run(self) -> None:
        n = 0
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                started = time.perf_counter()
                copy = f"COPY traces_span ({COLUMNS}) FROM STDIN"
                with conn.transaction(), conn.cursor() as cur, cur.copy(copy) as cp:
                    for _ in range(BATCH):
                        n += 1
                        ids = (f"{n // 20:032x}", f"{n:016x}", "")
                        rest = ('{"k": 1}', "{}", "{}", "[]", "[]", "", 0, "", "", "", "", "", "", "")
                        cp.write_row(
                            (2, *ids, "op", "svc", 2, self.today_start + n, 5000, 0, "", *rest, datetime.now(UTC))
                        )
                now = time.perf_counter()
                self.batches.append((now, now - started))

    def rate(self, start: float, end: float) -> tuple[float, float]:
        """Spans per second of the batches finished in [start, end], and the slowest batch that overlapped it."""
        done = [d for t, d in self.batches if start <= t <= end]
        overlapping = [d for t, d in self.batches if t >= start and t - d <= end]
        return len(done) * BATCH / max(end - start, 1e-9), max(overlapping, default=0.0)


def _measure(writer: Writer, seconds: float) -> float:
    start = time.perf_counter()
    time.sleep(seconds)
    return writer.rate(start, time.perf_counter())[0]


def _during(writer: Writer, action) -> tuple[float, float, float]:
    """Runs `action`; returns its duration, the writer's rate during it (at least a 1 s window), slowest batch."""
    start = time.perf_counter()
    action()
    took = time.perf_counter() - start
    end = max(time.perf_counter(), start + 1.0)
    time.sleep(max(0.0, end - time.perf_counter()) + 0.3)
    rate, slowest = writer.rate(start, end)
    return took, rate, slowest


def main() -> None:
    n = int(os.environ.get("BENCH_PRUNE_SPANS", "300000"))
    url = fresh_database("prune")
    today = datetime.now(UTC).date()
    old = today - timedelta(days=20)
    old_start = int(datetime(old.year, old.month, old.day, tzinfo=UTC).timestamp()) * 1_000_000_000
    today_start = int(datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp()) * 1_000_000_000
    name = f"traces_span_p{old:%Y%m%d}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {name} PARTITION OF traces_span FOR VALUES FROM ({old_start}) TO ({old_start + DAY_NS})"
        )
        print(f"generated {n:,} spans into {name} in {_generate(conn, old_start, n):.1f} s")
        writer = Writer(url, today_start)
        writer.start()
        time.sleep(1.0)
        baseline = _measure(writer, 4.0)
        print(f"ingest alone: {baseline:,.0f} spans/s ({BATCH}-span COPY batches, one writer)")

        def drop() -> None:
            conn.execute(f"ALTER TABLE traces_span DETACH PARTITION {name} CONCURRENTLY")
            conn.execute(f"DROP TABLE {name}")

        took, rate, slowest = _during(writer, drop)
        print(
            f"detach concurrently + drop: {took * 1000:.0f} ms; ingest meanwhile {rate:,.0f} spans/s "
            f"(ratio {rate / baseline:.2f}), slowest batch {slowest * 1000:.0f} ms"
        )
        conn.execute(
            f"CREATE TABLE {name} PARTITION OF traces_span FOR VALUES FROM ({old_start}) TO ({old_start + DAY_NS})"
        )
        _generate(conn, old_start, n)
        baseline = _measure(writer, 4.0)

        def delete() -> None:
            conn.execute(
                "DELETE FROM traces_span WHERE start_ns >= %s AND start_ns < %s", [old_start, old_start + DAY_NS]
            )

        took, rate, slowest = _during(writer, delete)
        print(
            f"DELETE of the same {n:,} rows: {took * 1000:.0f} ms; ingest meanwhile {rate:,.0f} spans/s "
            f"(ratio {rate / baseline:.2f}, against {baseline:,.0f} alone just before), "
            f"slowest batch {slowest * 1000:.0f} ms"
        )
        writer.stop.set()
        writer.join()
