"""Record ingest end to end: 10,000 executions and 100,000 shards over HTTP in batches of 1,000.

A fresh PostgreSQL database, gunicorn with 2 workers, `requests` clients (one per worker, so both workers are
busy), bodies serialised before the clock starts. Prints records/s per kind, the CPU seconds spent (client, gunicorn,
PostgreSQL backends; on a shared machine the load-independent figure), then peak memory of the client and of each
server process. Target (issue 2): at least 5,000 shard records/s on a 2-core machine.

    .venv/bin/python -m bench records
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import requests

from bench._support import ROOT, fresh_database, gunicorn, peak_rss_mib

EXECUTIONS = int(os.environ.get("BENCH_EXECUTIONS", "10000"))
SHARDS_PER_EXECUTION = int(os.environ.get("BENCH_SHARDS_PER_EXECUTION", "10"))
BATCH = 1000
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "2"))
WORKERS = 2
NAMESPACE = "bench"


def _token(database_url: str) -> str:
    env = {**os.environ, "DATABASE_URL": database_url}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "create_namespace", NAMESPACE], cwd=ROOT, env=env, check=True, capture_output=True)
    out = subprocess.run(
        [*manage, "create_token", NAMESPACE, "--scopes", "ingest,read"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def execution_batches() -> list[bytes]:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    records = []
    for i in range(EXECUTIONS):
        began = start + timedelta(minutes=i)
        records.append(
            {
                "job": f"account-migration-{i % 10}",
                "execution_id": f"run-{i}",
                "trigger": "scheduled",
                "status": "failed" if i % 50 == 0 else "succeeded",
                "scheduled_at": _iso(began),
                "started_at": _iso(began),
                "finished_at": _iso(began + timedelta(seconds=4, milliseconds=i % 1000)),
                "attempt": 1,
                "worker": f"worker-{i % 8}",
                "params": {"batch": i, "region": "eu"},
                "error": "field too long" if i % 50 == 0 else "",
                "trace_id": f"{i + 1:032x}",
                "sampled": True,
                "envelope": {"message_id": f"m-{i}", "correlation_id": f"wf-{i}"} if i % 10 == 0 else {},
            }
        )
    return [json.dumps(records[k : k + BATCH]).encode() for k in range(0, len(records), BATCH)]


def shard_batches() -> list[bytes]:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    records = []
    for i in range(EXECUTIONS):
        for j in range(SHARDS_PER_EXECUTION):
            n = i * SHARDS_PER_EXECUTION + j
            began = start + timedelta(minutes=i, seconds=j)
            records.append(
                {
                    "job": f"account-migration-{i % 10}",
                    "execution_id": f"run-{i}",
                    "shard_id": f"shard-{j}",
                    "index": j,
                    "labels": {"account": str(1000000 + n)},
                    "status": "failed" if n % 97 == 0 else "succeeded",
                    "worker": f"worker-{n % 8}",
                    "started_at": _iso(began),
                    "finished_at": _iso(began + timedelta(milliseconds=300 + n % 700)),
                    "attempt": 1,
                    "error": "value too long for column" if n % 97 == 0 else "",
                    "trace_id": f"{n + 1:032x}",
                    "span_id": f"{n + 1:016x}",
                }
            )
    return [json.dumps(records[k : k + BATCH]).encode() for k in range(0, len(records), BATCH)]


def _post_all(base: str, path: str, token: str, bodies: list[bytes]) -> tuple[float, list[float]]:
    """Post every body (CLIENTS at a time); returns wall seconds and each request's latency."""
    sessions = [requests.Session() for _ in range(CLIENTS)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(k: int) -> float:
        session = sessions[k % CLIENTS]
        began = time.perf_counter()
        response = session.post(base + path, data=bodies[k], headers=headers, timeout=120)
        if response.status_code != 200:
            raise RuntimeError(f"{path} batch {k}: HTTP {response.status_code}: {response.text[:500]}")
        return time.perf_counter() - began

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        latencies = list(pool.map(post, range(len(bodies))))
    return time.perf_counter() - began, latencies


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _database_backends(database_url: str) -> list[int]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [pid for (pid,) in rows]


class CpuMeter:
    """CPU seconds spent by the client, the gunicorn processes and the PostgreSQL backends they use.

    The machine is shared; wall-clock figures depend on what else runs. CPU seconds per record do not, and give
    what 2 idle cores could sustain: 2 / (CPU seconds per record).
    """

    def __init__(self, port: int, database_url: str) -> None:
        self.port = port
        self.database_url = database_url

    def sample(self) -> dict[str, float]:
        servers = [pid for pid, _ in _server_peaks(self.port)]
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "client": usage.ru_utime + usage.ru_stime,
            "server": sum(_cpu_seconds(pid) for pid in servers),
            "database": sum(_cpu_seconds(pid) for pid in _database_backends(self.database_url)),
        }


def _cpu_report(kind: str, count: int, before: dict[str, float], after: dict[str, float]) -> None:
    spent = {k: after[k] - before[k] for k in after}
    total = sum(spent.values())
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in spent.items())
    print(
        f"{'':<10} CPU {total:.1f} s ({parts}) = {total / count * 1e6:.0f} us/record"
        f" -> {2 * count / total:,.0f} records/s on 2 idle cores"
    )


def _server_peaks(port: int) -> list[tuple[int, float]]:
    """(pid, peak RSS MiB) of every gunicorn process serving this port (master and workers)."""
    peaks = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if b"gunicorn" not in cmdline or f"127.0.0.1:{port}".encode() not in cmdline:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append((int(proc.name), int(line.split()[1]) / 1024))
        except OSError:
            continue
    return sorted(peaks)


def _report(kind: str, count: int, seconds: float, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2] * 1000
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000
    print(
        f"{kind:<10} {count:>7} records in {seconds:6.2f} s = {count / seconds:8.0f} records/s"
        f"  (batch of {BATCH}: p50 {p50:.0f} ms, p95 {p95:.0f} ms)"
    )


def main() -> None:
    database_url = fresh_database("records")
    token = _token(database_url)
    executions = execution_batches()
    shards = shard_batches()
    n_executions = EXECUTIONS
    n_shards = EXECUTIONS * SHARDS_PER_EXECUTION
    print(
        f"PostgreSQL {urlsplit(database_url).path.lstrip('/')}, gunicorn {WORKERS} workers, {CLIENTS} client threads;"
        f" bodies {sum(map(len, executions)) / 1e6:.1f} MB + {sum(map(len, shards)) / 1e6:.1f} MB"
    )
    with gunicorn(database_url, workers=WORKERS) as base:
        port = urlsplit(base).port or 0
        requests.get(base + "/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        meter = CpuMeter(port, database_url)
        before = meter.sample()
        seconds, latencies = _post_all(base, "/api/v1/executions", token, executions)
        _report("executions", n_executions, seconds, latencies)
        middle = meter.sample()
        _cpu_report("executions", n_executions, before, middle)
        seconds, latencies = _post_all(base, "/api/v1/shards", token, shards)
        _report("shards", n_shards, seconds, latencies)
        after = meter.sample()
        _cpu_report("shards", n_shards, middle, after)
        resent, latencies = _post_all(base, "/api/v1/shards", token, shards[:20])
        _report("resent", 20 * BATCH, resent, latencies)
        _cpu_report("resent", 20 * BATCH, after, meter.sample())
        servers = _server_peaks(port)
    print(f"peak RSS: client {peak_rss_mib():.0f} MiB; server " + ", ".join(f"pid {p} {m:.0f} MiB" for p, m in servers))
    target = "meets" if n_shards / seconds >= 5000 else "MISSES"
    print(f"shards: {n_shards / seconds:.0f} records/s {target} the 5,000/s target")
