"""The schedule monitor: one check over 10,000 scheduled jobs (queries and milliseconds), and the delay from a
missed tick's grace end to its alert reaching a real Alertmanager.

Part 1, in-process against a fresh PostgreSQL database: 10,000 jobs (cron every 5 minutes in UTC, cron 02:30 in
Europe/Berlin, `@every 15m`), each with its state cursor 6 minutes back so every job is due; half have a run for
their tick. Timed: the first check (deciding every job: ~5,000 missed rows and notices written) and the next one
(nothing due: the steady state between ticks), each with its query count.

Part 2: `manage.py monitor` as a process (its default 5 s interval) posting to Debian's Alertmanager
(tests/peers), a job `@every 10s` with a 2 s grace and no runs; for each missed tick, the time from its grace end to
the alert being listed by Alertmanager's GET /api/v2/alerts (polled every 50 ms). Expected: up to one interval.

    .venv/bin/python -m bench monitor
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from bench._support import ROOT, fresh_database

JOBS = int(os.environ.get("BENCH_MONITOR_JOBS", "10000"))
DELAY_SECONDS = float(os.environ.get("BENCH_MONITOR_DELAY_SECONDS", "45"))


def _setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()


def one_check() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jobs.models import Execution, Job, Namespace, ScheduleState
    from jobs.schedules.monitor import run_check

    now = datetime.now(UTC)
    ns = Namespace.objects.create(name="bench")
    kinds = [("*/5 * * * *", "UTC"), ("30 2 * * *", "Europe/Berlin"), ("@every 15m", "UTC")]
    jobs = Job.objects.bulk_create(
        [
            Job(namespace=ns, name=f"job-{i:05d}", schedule=kinds[i % 3][0], timezone=kinds[i % 3][1], grace_seconds=60)
            for i in range(JOBS)
        ],
        batch_size=2000,
    )
    # Berlin's 02:30 job: its cursor just before its last tick; the others 6 minutes back. All due.
    last_0230 = now.replace(hour=0, minute=30, second=0, microsecond=0)  # 02:30 CEST/01:30 CET: one of them
    states = []
    runs = []
    for i, job in enumerate(jobs):
        cursor = last_0230 - timedelta(minutes=1) if i % 3 == 1 else now - timedelta(minutes=6)
        states.append(ScheduleState(job=job, checked_until=cursor, due_at=now - timedelta(seconds=1), updated_at=now))
        if i % 2 == 0:  # half ran just after their cursor
            runs.append(
                Execution(
                    namespace=ns,
                    job=job,
                    execution_id=f"run-{i}",
                    status="succeeded",
                    started_at=cursor + timedelta(minutes=1, seconds=5)
                    if i % 3 == 0
                    else cursor + timedelta(seconds=70),
                )
            )
    ScheduleState.objects.bulk_create(states, batch_size=2000)
    Execution.objects.bulk_create(runs, batch_size=2000)
    for label in ("first check (every job due)", "next check (nothing due)"):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            report = run_check(datetime.now(UTC))
            ms = (time.perf_counter() - started) * 1000
        print(
            f"{label}: {ms:,.0f} ms, {len(queries)} queries; {report.jobs_checked:,} jobs decided, "
            f"{report.missed:,} missed written"
        )
    Job.objects.filter(namespace=ns).delete()


def delay_to_alertmanager() -> None:
    from jobs.models import Job, Namespace
    from jobs.schedules.store import sync_state
    from tests.peers.alertmanager import serve_alertmanager

    ns = Namespace.objects.get_or_create(name="bench")[0]
    job = Job.objects.create(namespace=ns, name="every-ten", schedule="@every 10s", grace_seconds=2)
    sync_state(job, datetime.now(UTC), reset=True)
    seen: dict[str, float] = {}
    with serve_alertmanager() as alertmanager:
        env = {
            **os.environ,
            "JOBTRACE_ALERTMANAGER_URL": alertmanager.url,
            "JOBTRACE_MONITOR_INTERVAL_SECONDS": "5",
        }
        monitor = subprocess.Popen(
            [sys.executable, "manage.py", "monitor"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + DELAY_SECONDS
            while time.monotonic() < deadline:
                for alert in alertmanager.alerts('job="every-ten"'):
                    seen.setdefault(alert["labels"]["execution_id"], time.time())
                time.sleep(0.05)
        finally:
            monitor.terminate()
            monitor.wait(10)
    delays = []
    for execution_id, at in sorted(seen.items()):
        tick = datetime.strptime(execution_id.removeprefix("missed-"), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        delays.append(at - (tick.timestamp() + 2))
    if not delays:
        raise RuntimeError("no alert reached Alertmanager")
    print(
        f"grace end -> alert listed by Alertmanager, {len(delays)} missed ticks, monitor interval 5 s: "
        f"median {statistics.median(delays):.2f} s, min {min(delays):.2f} s, max {max(delays):.2f} s"
    )


def main() -> None:
    url = fresh_database("monitor")
    _setup(url)
    one_check()
    delay_to_alertmanager()


if __name__ == "__main__":
    main()
