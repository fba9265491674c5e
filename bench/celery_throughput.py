"""Celery task throughput with and without jobtrace_sdk.celery on the same worker (tests/peers/celery_tasks.py).

One prefork worker (concurrency 2) on RabbitMQ and Redis, started afresh for each run with the same settings,
instrumented or not (JOBTRACE_CELERY_INSTRUMENT), reporting to the console (gunicorn + PostgreSQL on a fresh
database, on the same two cores). The bench process queues TASKS no-op tasks (itself not instrumented), then starts
the worker and waits for every result; tasks/s from the results' completion times (first to last). Runs alternate
plain / instrumented for ROUNDS pairs, so a shared machine's load hits both alike; printed: each pair's ratio, the
median ratio and the spread, and the worker's CPU per task (its process tree's user + system, from
RUSAGE_CHILDREN over its whole life, less a run of the same worker with no tasks), which does not depend on the
console sharing the machine.

    .venv/bin/python -m bench celery_throughput     (BENCH_CELERY_TASKS=2000 BENCH_CELERY_ROUNDS=3)
"""

from __future__ import annotations

import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import uuid

from bench._support import ROOT, fresh_database, gunicorn

TASKS = int(os.environ.get("BENCH_CELERY_TASKS", "2000"))
ROUNDS = int(os.environ.get("BENCH_CELERY_ROUNDS", "3"))


def _token(database_url: str) -> str:
    env = {**os.environ, "DATABASE_URL": database_url}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "create_namespace", "payments"], cwd=ROOT, env=env, check=True, capture_output=True)
    out = subprocess.run(
        [*manage, "create_token", "payments", "--scopes", "ingest,read"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(console_url: str, token: str, *, instrument: bool, tasks: int) -> tuple[float, float, float]:
    """(tasks/s, seconds spent publishing, worker CPU seconds over its whole life).

    The tasks are queued before the worker starts, and the rate is taken from the results' own completion times
    (first to last `date_done`), so neither publishing nor the worker's start-up is part of it."""
    from celery.result import ResultSet

    from tests.peers.celery_tasks import make_app
    from tests.peers.celery_worker import serve_celery_worker

    queue = f"jobtrace-bench-{uuid.uuid4().hex[:12]}"
    app = make_app(queue)
    noop = app.signature("payments.noop")
    started = time.perf_counter()
    results = [noop.clone(args=(i,)).apply_async() for i in range(tasks)]
    published = time.perf_counter() - started
    cpu_before = _children_cpu()
    with serve_celery_worker(console_url, token=token, instrument=instrument, queue=queue):
        if results:
            ResultSet(results, app=app).join_native(timeout=600, propagate=True)
    cpu = _children_cpu() - cpu_before  # the worker was reaped on leaving the block, its pool children before it
    if len(results) < 2:
        return 0.0, published, cpu
    done = sorted(r.date_done for r in results)
    return (len(done) - 1) / (done[-1] - done[0]).total_seconds(), published, cpu


def _services_up() -> bool:
    for port in (5672, 6379):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            print(f"nothing listens on 127.0.0.1:{port} (RabbitMQ 5672, Redis 6379): start them (see .ci/run)")
            return False
    return True


def main() -> None:
    if not _services_up():
        return
    sys.path.insert(0, str(ROOT))
    database_url = fresh_database("celery")
    token = _token(database_url)
    with gunicorn(database_url) as console_url:
        idle = {flag: run_once(console_url, token, instrument=flag, tasks=0)[2] for flag in (False, True)}
        run_once(console_url, token, instrument=True, tasks=200)  # warm up the console, the broker, the caches
        pairs = []
        for _ in range(ROUNDS):
            plain = run_once(console_url, token, instrument=False, tasks=TASKS)
            traced = run_once(console_url, token, instrument=True, tasks=TASKS)
            pairs.append((plain, traced))
    print(f"{TASKS} no-op tasks per run, prefork worker x2, {ROUNDS} alternating pairs")
    print(
        f"{'pair':>4} {'plain t/s':>10} {'with t/s':>10} {'ratio':>7} {'publish s':>10} {'CPU ms/task plain':>18} "
        f"{'with':>6}"
    )
    ratios, cpu_plain, cpu_traced = [], [], []
    for i, ((p_rate, p_pub, p_cpu), (t_rate, t_pub, t_cpu)) in enumerate(pairs, 1):
        ratio = t_rate / p_rate
        ratios.append(ratio)
        cpu_plain.append((p_cpu - idle[False]) / TASKS * 1000)
        cpu_traced.append((t_cpu - idle[True]) / TASKS * 1000)
        print(
            f"{i:>4} {p_rate:>10.0f} {t_rate:>10.0f} {ratio:>7.2f} {max(p_pub, t_pub):>10.2f} "
            f"{cpu_plain[-1]:>18.2f} {cpu_traced[-1]:>6.2f}"
        )
    print(
        f"throughput with / without the integration: median {statistics.median(ratios):.2f} "
        f"(spread {min(ratios):.2f}-{max(ratios):.2f}); worker CPU per task: "
        f"{statistics.median(cpu_plain):.2f} ms plain, {statistics.median(cpu_traced):.2f} ms with "
        f"(+{statistics.median(cpu_traced) - statistics.median(cpu_plain):.2f} ms)"
    )
