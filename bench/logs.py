"""Log ingest end to end (OTLP/HTTP into PostgreSQL through the production server) next to its decode-plus-COPY
ceiling, and text search over millions of one job's records.

Ingest: batches of 1,000 log records (4 resources, 5 attributes each, a trace and span id on half of them, one in 50
at ERROR), protobuf and JSON, posted by 4 client threads to gunicorn (2 workers) on loopback, the formats taking
turns over 3 rounds. The ceiling: the same payloads decoded and COPYed into traces_logrecord by one process, one
connection, no HTTP, no linking, measured in the same run.

Search: BENCH_LOG_SEARCH_ROWS records (default 5,000,000) of one job written by `INSERT ... SELECT generate_series`
in the database (not through HTTP; the trigram and time indexes built after), then the /logs/ page's query
(traces/logs/queries.py: the job's records whose body contains a term, newest first, a page of 100) for terms from
common to absent; printed: p50 and p95 per term.

    python -m bench logs          (or `make bench`)
    BENCH_LOG_BATCHES=60 BENCH_LOG_SEARCH_ROWS=1000000 python -m bench logs
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
import statistics
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import psycopg

from bench._support import fresh_database, gunicorn, peak_rss_mib
from bench.spans import Run, _backends, _cpu_seconds, _descendants, _manage

RECORDS_PER_BATCH = 1000
CLIENT_THREADS = 4
ROUNDS = 3
TARGET = 30_000  # records/s end to end, each format
SEARCH_TARGET_MS = 100.0
T0 = 1_764_000_000_000_000_000
WORDS = ["copied", "rows", "account", "migration", "shard", "retry", "batch", "commit", "flush", "queue"]


def _batch_dict(seed: int) -> dict[str, Any]:
    resources = []
    per = RECORDS_PER_BATCH // 4
    n = 0
    for si, service in enumerate(["exporter", "copier", "loader", "checker"]):
        records = []
        trace = secrets.token_hex(16)
        for _ in range(per):
            error = n % 50 == 0
            record: dict[str, Any] = {
                "timeUnixNano": str(T0 + seed * 10_000_000_000 + n * 1_000_000),
                "observedTimeUnixNano": str(T0 + seed * 10_000_000_000 + n * 1_000_000 + 5000),
                "severityNumber": 17 if error else 9,
                "severityText": "ERROR" if error else "INFO",
                "body": {
                    "stringValue": f"{WORDS[n % 10]} {seed * RECORDS_PER_BATCH + n} rows to account_{n % 97} "
                    + ("connection reset by peer" if error else f"in {n % 13} ms")
                },
                "attributes": [
                    {"key": "logger.name", "value": {"stringValue": "jobs.migration"}},
                    {"key": "code.line.number", "value": {"intValue": str(100 + n % 40)}},
                    {"key": "row", "value": {"intValue": str(n)}},
                    {"key": "job.execution.id", "value": {"stringValue": f"run-{seed}"}},
                    {"key": "retry", "value": {"boolValue": n % 7 == 0}},
                ],
            }
            if n % 2 == 0:
                record["traceId"] = trace
                record["spanId"] = secrets.token_hex(8)
                record["flags"] = 1
            records.append(record)
            n += 1
        resources.append(
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": service}},
                        {"key": "host.name", "value": {"stringValue": f"host-{si}"}},
                        {"key": "job.name", "value": {"stringValue": "account-migration"}},
                    ]
                },
                "scopeLogs": [{"scope": {"name": "bench", "version": "1"}, "logRecords": records}],
            }
        )
    return {"resourceLogs": resources}


def _payloads(fmt: str, batches: int, offset: int) -> list[bytes]:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    out = []
    for i in range(batches):
        doc = _batch_dict(offset + i)
        if fmt == "json":
            out.append(json.dumps(doc).encode())
            continue
        for rl in doc["resourceLogs"]:
            for sl in rl["scopeLogs"]:
                for r in sl["logRecords"]:
                    for key in ("traceId", "spanId"):
                        if key in r:
                            r[key] = base64.b64encode(bytes.fromhex(r[key])).decode()
        out.append(json_format.ParseDict(doc, ExportLogsServiceRequest()).SerializeToString())
    return out


def _ceiling(url: str, fmt: str, payloads: list[bytes], namespace_id: int) -> tuple[float, float]:
    """Decode + COPY into traces_logrecord, one process: (records/s, CPU µs per record incl. its backend)."""
    from console.runtime import tune_gc
    from traces import partitions
    from traces.logs.ingest import parse_logs
    from traces.logs.linking import NONE
    from traces.logs.store import COLUMNS, COPY_SQL, rows_of

    tune_gc()
    with psycopg.connect(url) as conn:
        backend = {conn.execute("SELECT pg_backend_pid()").fetchone()[0]}  # type: ignore[index]
        cpu0 = time.process_time() + _cpu_seconds(backend)
        started = time.perf_counter()
        total = 0
        for body in payloads:
            records = parse_logs(body, json_body=fmt == "json").records
            rows = list(rows_of(namespace_id, records, [NONE] * len(records)))
            # COPY straight into the table: its days' partitions first (traces/partitions.py; the writer would
            # create a missing day itself), outside the timed section's COPY.
            partitions.ensure_for_values(partitions.LOGS, {row[COLUMNS.index("time_ns")] for row in rows})
            with conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
                for row in rows:
                    copy.write_row(row)
            conn.commit()
            total += len(records)
        wall = time.perf_counter() - started
        cpu = time.process_time() + _cpu_seconds(backend) - cpu0
    return total / wall, cpu / total * 1e6


def _post_all(base: str, token: str, fmt: str, payloads: list[bytes], url: str, run: Run) -> None:
    content_type = "application/json" if fmt == "json" else "application/x-protobuf"
    headers = {"Content-Type": content_type, "Authorization": f"Bearer {token}"}
    errors: list[str] = []
    lock = threading.Lock()
    queue = list(reversed(payloads))
    address = urlsplit(base)

    def work() -> None:
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        while True:
            with lock:
                if not queue:
                    connection.close()
                    return
                body = queue.pop()
            connection.request("POST", "/v1/logs", body=body, headers=headers)
            response = connection.getresponse()
            text = response.read()
            if response.status != 200 or b"rejected" in text:
                errors.append(f"{response.status}: {text[:200]!r}")

    threads = [threading.Thread(target=work) for _ in range(CLIENT_THREADS)]
    backends = _backends(url)
    server = (_descendants() - {os.getpid()}) | backends
    cpu0, db0, client0 = _cpu_seconds(server), _cpu_seconds(backends), time.process_time()
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} request(s) failed, e.g. {errors[0]}")
    run.spans += len(payloads) * RECORDS_PER_BATCH
    run.rounds.append(len(payloads) * RECORDS_PER_BATCH / elapsed)
    run.seconds += elapsed
    run.cpu += _cpu_seconds(server) - cpu0
    run.db += _cpu_seconds(backends) - db0
    run.client += time.process_time() - client0


def _ingest(url: str) -> None:
    batches = int(os.environ.get("BENCH_LOG_BATCHES", "60"))
    _manage(url, "create_namespace", "bench")
    _manage(url, "create_namespace", "ceiling")
    token = _manage(url, "create_token", "bench", "--scopes", "ingest")
    with psycopg.connect(url) as conn:
        ceiling_ns = conn.execute("SELECT id FROM jobs_namespace WHERE name = 'ceiling'").fetchone()[0]
    payloads = {fmt: _payloads(fmt, batches + 2, 0 if fmt == "protobuf" else 100_000) for fmt in ("protobuf", "json")}
    sizes = {fmt: sum(len(p) for p in ps[2:]) / batches / 1024 for fmt, ps in payloads.items()}
    ceilings = {fmt: _ceiling(url, fmt, ps[2:], ceiling_ns) for fmt, ps in payloads.items()}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE traces_logrecord")
    results = {fmt: Run() for fmt in payloads}
    with gunicorn(url, workers=2) as base:
        for fmt, ps in payloads.items():
            _post_all(base, token, fmt, ps[:2], url, Run())  # warm-up
        for r in range(ROUNDS):
            for fmt, ps in payloads.items():
                _post_all(base, token, fmt, ps[2:][r::ROUNDS], url, results[fmt])
        load = os.getloadavg()[0]
        # an exporter's retry of every batch stores nothing new
        _post_all(base, token, "protobuf", payloads["protobuf"][2:6], url, Run())
    with psycopg.connect(url) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM traces_logrecord WHERE namespace_id <> %s", [ceiling_ns]
        ).fetchone()[0]
    expected = 2 * (batches + 2) * RECORDS_PER_BATCH
    print(
        f"batches of {RECORDS_PER_BATCH} log records (5 attributes, trace ids on half), {batches} batches per format"
        f" in {ROUNDS} alternating rounds, {CLIENT_THREADS} client threads, gunicorn 2 workers"
    )
    for fmt in ("protobuf", "json"):
        run, (ceiling, ceiling_cpu) = results[fmt], ceilings[fmt]
        verdict = "ok" if run.rate >= TARGET else "BELOW TARGET"
        print(
            f"{fmt:>8}: {run.rate:9,.0f} records/s end to end | ceiling (decode+COPY, 1 process) {ceiling:9,.0f}/s"
            f" | {run.rate / ceiling:5.0%} of ceiling | target {TARGET:,} | {sizes[fmt]:.0f} KiB/batch [{verdict}]"
        )
        print(
            f"{'':>8}  CPU per record: end to end {run.cpu_us:5.1f} µs (workers + backends: "
            f"{run.cpu_us - run.db_us:.1f} + {run.db_us:.1f}), ceiling {ceiling_cpu:5.1f} µs;"
            f" rounds {' / '.join(f'{r:,.0f}' for r in run.rounds)}/s; client {run.client / run.spans * 1e6:.1f} µs"
        )
    print(f"load average during ingest: {load:.1f} on {os.cpu_count()} cores (the box is shared)")
    print(f"peak RSS: bench client {peak_rss_mib():.0f} MiB")
    print(f"stored {stored:,} records (expected {expected:,}; a resend of 4 batches added none)")
    if stored != expected:
        raise RuntimeError("records were lost or duplicated")


_GENERATE = """
INSERT INTO traces_logrecord (namespace_id, record_hash, time_ns, time_unix_nano, observed_time_unix_nano,
    severity_number, severity_text, body, body_text, attributes, resource, scope, service, trace_id, span_id, flags,
    event_name, dropped_attributes_count, job_namespace, job_name, job_execution_id, job_shard_id, execution_id,
    shard_id, job_id, received_at)
SELECT %(ns)s, md5(i::text), %(t0)s + i::bigint * 1000000, %(t0)s + i::bigint * 1000000, 0,
    CASE WHEN i %% 50 = 0 THEN 17 ELSE 9 END, CASE WHEN i %% 50 = 0 THEN 'ERROR' ELSE 'INFO' END, NULL, t.text,
    '{}', '{"service.name":"copier"}', '{}', 'copier', '', '', 0, '', 0, '', '', '', '', %(execution)s, NULL,
    %(job)s, now()
FROM generate_series(1, %(rows)s) AS i,
LATERAL (SELECT (ARRAY['copied','rows','account','migration','shard','retry','batch','commit','flush',
    'queue'])[1 + i %% 10]
    || ' ' || i || ' rows to account_' || (i %% 997) || ' '
    || CASE WHEN i %% 50 = 0 THEN 'connection reset by peer'
            WHEN i %% 100000 = 7 THEN 'checksum mismatch on page ' || (i %% 13)
            ELSE 'in ' || (i %% 13) || ' ms from ' || substr(md5(i::text), 1, 8) END AS text) AS t
"""

TERMS = ["connection reset", "account_42 ", "checksum mismatch", "migration 31", "ERR_NOT_THERE"]


def _search(url: str) -> None:
    rows = int(os.environ.get("BENCH_LOG_SEARCH_ROWS", "5000000"))
    _manage(url, "create_namespace", "search")
    from jobs.models import Execution, Job, Namespace
    from traces import partitions
    from traces.logs import queries

    ns = Namespace.objects.get(name="search")
    other = Job.objects.create(namespace=ns, name="other-job")
    job = Job.objects.create(namespace=ns, name="account-migration")
    run = Execution.objects.create(namespace=ns, job=job, execution_id="run-1", status="running")
    # The generated rows' days (one record a millisecond from T0) need their partitions on PostgreSQL.
    partitions.ensure_for_values(partitions.LOGS, range(T0, T0 + (rows + 2) * 1_000_000, 3_600 * 10**9))
    partitions.ensure_for_values(partitions.LOGS, [T0 + (rows + 2) * 1_000_000])
    started = time.perf_counter()
    # A connection of its own: the console's has a statement deadline (console/db/), these statements run minutes.
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("DROP INDEX logrecord_body_trgm_idx")
        cur.execute("DROP INDEX logrecord_job_time_idx")
        cur.execute("DROP INDEX logrecord_exec_time_idx")
        cur.execute(_GENERATE, {"ns": ns.pk, "t0": T0, "rows": rows, "job": job.pk, "execution": run.pk})
        # another job's records beside them (a tenth as many), so the job filter has something to leave out
        cur.execute(_GENERATE, {"ns": ns.pk, "t0": T0 + 1, "rows": rows // 10, "job": other.pk, "execution": None})
        generated = time.perf_counter() - started
        cur.execute("SET maintenance_work_mem = '256MB'")
        cur.execute("CREATE INDEX logrecord_body_trgm_idx ON traces_logrecord USING gin (body_text gin_trgm_ops)")
        cur.execute(
            "CREATE INDEX logrecord_job_time_idx ON traces_logrecord (job_id, time_ns) WHERE job_id IS NOT NULL"
        )
        cur.execute(
            "CREATE INDEX logrecord_exec_time_idx ON traces_logrecord (execution_id, time_ns)"
            " WHERE execution_id IS NOT NULL"
        )
        cur.execute("VACUUM ANALYZE traces_logrecord")
    indexed = time.perf_counter() - started - generated
    print(
        f"search: {rows:,} records of one job (+{rows // 10:,} of another) generated in {generated:.0f} s,"
        f" indexed in {indexed:.0f} s; the /logs/ page's query (job, body contains, newest first, 100 a page)"
    )
    scope = queries.Scope(frozenset({ns.pk}), job=job)
    worst = 0.0
    for term in TERMS:
        f = queries.LogFilter(job=f"search/{job.name}", q=term)
        qs = queries.records(scope, f, text=False)
        timings = []
        found = 0
        for i in range(25):
            t = time.perf_counter()
            found = len(queries.page(qs, "newest" if i % 2 == 0 else "oldest", "", 100, q=term).rows)
            timings.append((time.perf_counter() - t) * 1000)
        timings.sort()
        p95 = timings[int(len(timings) * 0.95) - 1]
        worst = max(worst, p95)
        print(f"  q={term!r:22} {found:3} rows/page  p50 {statistics.median(timings):7.1f} ms  p95 {p95:7.1f} ms")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"worst p95 {worst:.1f} ms, target < {SEARCH_TARGET_MS:.0f} ms"
        f" [{'ok' if worst < SEARCH_TARGET_MS else 'ABOVE TARGET'}]"
    )


def main() -> None:
    parts = os.environ.get("BENCH_LOG_PARTS", "ingest,search").split(",")
    url = fresh_database("logs")
    os.environ["DATABASE_URL"] = url  # Django (the ceiling's and the search's code) reads this database
    import django

    django.setup()
    if "ingest" in parts:
        _ingest(url)
    if "search" in parts:
        _search(url)
