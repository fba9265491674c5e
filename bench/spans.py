"""Span ingest, end to end: OTLP/HTTP into PostgreSQL through the production server, next to the raw ceiling.

Batches of 512 spans (16 traces of 32 spans, 8 attributes each, an exception event on every 8th span), protobuf and
JSON, posted by 4 client threads to gunicorn (2 workers) on loopback, the formats taking turns over 3 rounds;
PostgreSQL on the same box, its span table already holding the ceiling's spans. Printed: spans/s
and peak memory per format, and the raw decode-plus-COPY rate of the same payloads (one process, one connection,
no HTTP, no upsert, no summaries) measured in the same run as the ceiling.

    python -m bench spans          (or `make bench`)
    BENCH_SPAN_BATCHES=200 python -m bench spans
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from bench._support import ROOT, fresh_database, gunicorn, peak_rss_mib, span_partitions

SPANS_PER_BATCH = 512
SPANS_PER_TRACE = 32
CLIENT_THREADS = 4
ROUNDS = 3  # each format's batches are posted in this many turns, alternating with the other format
TARGETS = {"protobuf": 25_000, "json": 20_000}
CEILING_DB: dict[str, float] = {}  # the same in the ceiling
T0 = 1_763_800_000_000_000_000


def _batch_dicts(seed: int) -> list[dict[str, Any]]:
    """One ExportTraceServiceRequest as OTLP/JSON-shaped dicts (hex ids), 512 spans in 4 resources."""
    resources = []
    spans_left = SPANS_PER_BATCH
    services = ["checkout", "ServiceApplication", "inventory", "payments"]
    per_service = SPANS_PER_BATCH // len(services)
    traces = [secrets.token_hex(16) for _ in range(SPANS_PER_BATCH // SPANS_PER_TRACE)]
    roots = {t: secrets.token_hex(8) for t in traces}
    n = 0
    for si, service in enumerate(services):
        spans = []
        for _ in range(per_service):
            trace = traces[n % len(traces)]
            first = n < len(traces)
            span_id = roots[trace] if first else secrets.token_hex(8)
            start = T0 + seed * 10_000_000_000 + n * 1_000_000
            span: dict[str, Any] = {
                "traceId": trace,
                "spanId": span_id,
                "parentSpanId": "" if first else roots[trace],
                "name": f"userInfoSave-{n % 7}",
                "kind": 2 if first else 3,
                "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(start + 2_500_000 + n),
                "attributes": [
                    {"key": "http.request.method", "value": {"stringValue": "POST"}},
                    {"key": "http.route", "value": {"stringValue": f"/api/users/{n % 13}"}},
                    {"key": "http.response.status_code", "value": {"intValue": str(200 + (n % 3))}},
                    {"key": "server.address", "value": {"stringValue": "svc.internal"}},
                    {"key": "user.id", "value": {"intValue": str(100000 + n)}},
                    {"key": "db.system", "value": {"stringValue": "postgresql"}},
                    {"key": "retry", "value": {"boolValue": n % 5 == 0}},
                    {"key": "payload.ratio", "value": {"doubleValue": n / 512}},
                ],
                "status": {"code": 2, "message": "field too long"} if n % 8 == 0 else {},
            }
            if n % 8 == 0:
                span["events"] = [
                    {
                        "timeUnixNano": str(start + 1_000_000),
                        "name": "exception",
                        "attributes": [
                            {"key": "exception.type", "value": {"stringValue": "ValidationError"}},
                            {"key": "exception.message", "value": {"stringValue": "account_name too long"}},
                            {"key": "exception.stacktrace", "value": {"stringValue": "Traceback ...\n  at save()"}},
                        ],
                    }
                ]
            spans.append(span)
            n += 1
        spans_left -= per_service
        resources.append(
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": service}},
                        {"key": "host.name", "value": {"stringValue": f"host-{si}"}},
                    ]
                },
                "scopeSpans": [{"scope": {"name": "bench", "version": "1"}, "spans": spans}],
            }
        )
    return resources


def _payloads(fmt: str, batches: int) -> list[bytes]:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    out = []
    for i in range(batches):
        doc = {"resourceSpans": _batch_dicts(i)}
        if fmt == "json":
            out.append(json.dumps(doc).encode())
        else:
            # json_format reads ids as base64; hex ids are turned to bytes here, as an SDK would send them
            for rs in doc["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    for s in ss["spans"]:
                        for key in ("traceId", "spanId", "parentSpanId"):
                            import base64

                            s[key] = base64.b64encode(bytes.fromhex(s[key])).decode()
            out.append(json_format.ParseDict(doc, ExportTraceServiceRequest()).SerializeToString())
    return out


def _manage(url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip().splitlines()[-1]


def _ceiling(url: str, fmt: str, payloads: list[bytes], namespace_id: int) -> tuple[float, float]:
    """Decode + COPY straight into traces_span, one process: the rate nothing above can beat.
    Returns (spans/s wall clock, CPU µs per span: this process plus its PostgreSQL backend)."""
    import django

    django.setup()
    from console.runtime import tune_gc
    from traces.ingest import parse_otlp
    from traces.store import _COLUMNS, _rows

    cols = ", ".join(_COLUMNS)
    tune_gc()  # as console/wsgi.py does for the server
    with psycopg.connect(url) as conn:
        backend = {conn.execute("SELECT pg_backend_pid()").fetchone()[0]}  # type: ignore[index]
        cpu0 = time.process_time() + _cpu_seconds(backend)
        db0 = _cpu_seconds(backend)
        started = time.perf_counter()
        total = 0
        span_partitions(conn, [T0, T0 + len(payloads) * 20_000_000_000])
        for body in payloads:
            spans = parse_otlp(body, json_body=fmt == "json", aliases={}).spans
            with conn.cursor() as cur, cur.copy(f"COPY traces_span ({cols}, received_at) FROM STDIN") as copy:
                for row in _rows(namespace_id, spans, "2026-01-01T00:00:00Z"):
                    copy.write_row(row)
            conn.commit()
            total += len(spans)
        wall = time.perf_counter() - started
        cpu = time.process_time() + _cpu_seconds(backend) - cpu0
        CEILING_DB[fmt] = (_cpu_seconds(backend) - db0) / total * 1e6
        return total / wall, cpu / total * 1e6


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: set[int]) -> float:
    """utime + stime of these processes (this machine's /proc), in seconds."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / _TICK


def _descendants() -> set[int]:
    me = os.getpid()
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {me}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _backends(url: str) -> set[int]:
    """PostgreSQL backend processes serving the benchmark database (PostgreSQL runs on this box)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return {r[0] for r in rows}


def _worker_peak_mib() -> float:
    """Peak RSS (VmHWM) of the gunicorn processes started below this one."""
    peak = 0.0
    for pid in _descendants():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            pass
    return peak


@dataclass
class Run:
    """Totals over one format's rounds: spans posted, wall seconds, server CPU seconds (gunicorn workers plus their
    PostgreSQL backends) and the backends' share of it."""

    spans: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    db: float = 0.0
    rounds: list[float] = field(default_factory=list)  # spans/s of each round, to show the box's noise
    client: float = 0.0  # this process's CPU seconds (the posting threads), taken from the same 2 cores

    @property
    def rate(self) -> float:
        return self.spans / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.spans * 1e6

    @property
    def db_us(self) -> float:
        return self.db / self.spans * 1e6


def _post_all(base: str, token: str, fmt: str, payloads: list[bytes], url: str, run: Run) -> None:
    """Post every payload from CLIENT_THREADS threads; add the wall time and server CPU to `run`."""
    content_type = "application/json" if fmt == "json" else "application/x-protobuf"
    headers = {"Content-Type": content_type, "Authorization": f"Bearer {token}"}
    errors: list[str] = []
    lock = threading.Lock()
    queue = list(reversed(payloads))

    address = urlsplit(base)

    def work() -> None:
        # http.client, one keep-alive connection per thread: requests took ~3.8 µs of CPU per span on the same two
        # cores the server needs (a real exporter runs elsewhere).
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        while True:
            with lock:
                if not queue:
                    connection.close()
                    return
                body = queue.pop()
            connection.request("POST", "/v1/traces", body=body, headers=headers)
            response = connection.getresponse()
            text = response.read()
            if response.status != 200:
                errors.append(f"{response.status}: {text[:200]!r}")

    threads = [threading.Thread(target=work) for _ in range(CLIENT_THREADS)]
    workers = _descendants() - {os.getpid()}
    backends = _backends(url)
    server = workers | backends
    cpu0 = _cpu_seconds(server)
    db0 = _cpu_seconds(backends)
    client0 = time.process_time()
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    cpu = _cpu_seconds(server) - cpu0
    db = _cpu_seconds(backends) - db0
    run.client += time.process_time() - client0
    if errors:
        raise RuntimeError(f"{len(errors)} request(s) failed, e.g. {errors[0]}")
    run.spans += len(payloads) * SPANS_PER_BATCH
    run.rounds.append(len(payloads) * SPANS_PER_BATCH / elapsed)
    run.seconds += elapsed
    run.cpu += cpu
    run.db += db


def main() -> None:
    batches = int(os.environ.get("BENCH_SPAN_BATCHES", "120"))
    url = fresh_database("spans")
    _manage(url, "create_namespace", "bench")
    _manage(url, "create_namespace", "ceiling")
    token = _manage(url, "create_token", "bench", "--scopes", "ingest")
    with psycopg.connect(url) as conn:
        ceiling_ns = conn.execute("SELECT id FROM jobs_namespace WHERE name = 'ceiling'").fetchone()[0]

    payloads = {fmt: _payloads(fmt, batches + 4) for fmt in ("protobuf", "json")}
    sizes = {fmt: sum(len(p) for p in ps[4:]) / batches / 1024 for fmt, ps in payloads.items()}
    ceilings = {fmt: _ceiling(url, fmt, ps[4:], ceiling_ns) for fmt, ps in payloads.items()}
    # The ceiling's spans stay (another namespace): the server appends to a table that already holds data, as
    # ingest does. (Deleting them and vacuuming made whichever format ran first refill the freed pages, at ~6 µs
    # more PostgreSQL CPU per span than appending.)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE traces_span")

    results = {fmt: Run() for fmt in payloads}
    with gunicorn(url, workers=2) as base:
        for fmt, ps in payloads.items():
            _post_all(base, token, fmt, ps[:4], url, Run())  # warm-up: connections, imports
        # The formats take turns, so neither alone pays for the table's growth or a checkpoint.
        for r in range(ROUNDS):
            for fmt, ps in payloads.items():
                _post_all(base, token, fmt, ps[4:][r::ROUNDS], url, results[fmt])
        server_peak = _worker_peak_mib()

    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT count(*) FROM traces_span WHERE namespace_id <> %s", [ceiling_ns]).fetchone()[0]
        traces = conn.execute("SELECT count(*), sum(span_count) FROM traces_trace").fetchone()
    expected = 2 * (batches + 4) * SPANS_PER_BATCH
    print(
        f"batches of {SPANS_PER_BATCH} spans ({SPANS_PER_TRACE}/trace, 8 attributes, an event on 1 in 8), "
        f"{batches} batches per format in {ROUNDS} alternating rounds, {CLIENT_THREADS} client threads, "
        "gunicorn 2 workers"
    )
    load = os.getloadavg()[0]
    for fmt in ("protobuf", "json"):
        run, (ceiling, ceiling_cpu) = results[fmt], ceilings[fmt]
        rate, cpu = run.rate, run.cpu_us
        verdict = "ok" if rate >= TARGETS[fmt] and rate >= ceiling / 2 else "BELOW TARGET"
        print(
            f"{fmt:>8}: {rate:9,.0f} spans/s end to end  | ceiling (decode+COPY, 1 process) {ceiling:9,.0f} spans/s"
            f"  | {rate / ceiling:5.0%} of ceiling | target {TARGETS[fmt]:,} | {sizes[fmt]:.0f} KiB/batch  [{verdict}]"
        )
        print(
            f"{'':>8}  CPU per span: end to end {cpu:5.1f} µs (gunicorn workers + their PostgreSQL backends: "
            f"{cpu - run.db_us:.1f} + {run.db_us:.1f}), "
            f"ceiling {ceiling_cpu:5.1f} µs ({ceiling_cpu - CEILING_DB.get(fmt, 0):.1f} + {CEILING_DB.get(fmt, 0):.1f})"
            ";"
            f" on 2 idle cores that is ~{2e6 / cpu:,.0f} vs ~{2e6 / ceiling_cpu:,.0f} spans/s"
        )
        print(
            f"{'':>8}  rounds: {' / '.join(f'{r:,.0f}' for r in run.rounds)} spans/s;"
            f" the posting client used {run.client / run.spans * 1e6:.1f} µs of CPU per span"
        )
    print(f"load average at the end: {load:.1f} on {os.cpu_count()} cores (other work on the box slows the wall clock)")
    print(f"peak RSS: gunicorn worker {server_peak:.0f} MiB, bench client {peak_rss_mib():.0f} MiB")
    print(
        f"stored {stored:,} spans (expected {expected:,}); {traces[0]:,} trace summaries counting {traces[1]:,} spans"
    )
    if stored != expected or traces[1] != expected:
        raise RuntimeError("spans were lost or duplicated")
