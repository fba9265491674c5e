"""Run comparison: server time with 10,000 spans on each side (`python -m bench compare`).

Two runs of a job, each with a 10,000-span trace of the same shape (bench/pages.py's generator: 23 operations over
12 services, fan-out 8; durations differ by seed), compared through the run-vs-run page, its API and the
trace-vs-trace page; and the comparison alone (traces/compare.py over two built waterfalls, no database), so the
engine's share is visible. Target on this machine with PostgreSQL: each page < 500 ms (median wall time through
Django's full stack, in-process, after a warm-up; bench/pages.py's `_measure`).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta

from bench._support import ROOT, fresh_database

TARGET_MS = 500
SPANS = 10_000


def main() -> None:
    url = fresh_database("compare")
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "console.settings", "DEBUG": "false"}
    subprocess.run([sys.executable, "-m", "bench.compare", "--inner"], cwd=ROOT, env=env, check=True)


def inner() -> None:
    import django

    django.setup()
    from django.test import Client
    from django.utils import timezone

    from bench.pages import _insert_spans, _measure, _spans_of_trace, _summary
    from console import links
    from jobs.choices import RunStatus
    from jobs.models import Execution, Job, Namespace
    from tests import factories
    from traces import queries
    from traces.compare import compare
    from traces.models import TraceService

    ns = Namespace.objects.create(name="bench")
    user = factories.user(ns, "viewer", username="bench-viewer")
    job = Job.objects.create(namespace=ns, name="nightly-export")
    now = timezone.now()
    runs, trace_ids = [], []
    for night, tid in enumerate((f"{SPANS:08x}" + "aa" * 12, f"{SPANS:08x}" + "bb" * 12)):
        started = now - timedelta(days=2 - night)
        run = Execution.objects.create(namespace=ns, job=job, execution_id=f"night-{night}", status=RunStatus.SUCCEEDED,
                                       started_at=started, duration_ms=2000 + night * 12_000, trace_id=tid)  # fmt: skip
        spans = _spans_of_trace(ns.pk, tid, SPANS, int(started.timestamp() * 1e9))
        _insert_spans(spans)
        trace, services = _summary(ns, tid, spans, job=job, execution=run)
        trace.save()
        for s in services:
            s.trace = trace
        TraceService.objects.bulk_create(services)
        runs.append(run)
        trace_ids.append(tid)

    client = Client()
    client.force_login(user)
    a, b = runs
    cases = [
        ("run vs run page", links.run_compare_url(ns.name, job.name, a.execution_id, b.execution_id)),
        ("run vs run API", f"/api/v1/jobs/{ns.name}/{job.name}/executions/{a.execution_id}/compare/{b.execution_id}"),
        ("trace vs trace page", links.trace_compare_url(*trace_ids)),
    ]
    print(f"{SPANS:,} spans on each side; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'case':28} {'wall med':>9} {'wall min':>9} {'cpu':>8} {'db':>7} {'size':>9}  target (on wall median)")
    for label, url in cases:
        median, fastest, cpu, db, size, status = _measure(client, url)
        verdict = f"< {TARGET_MS} ms ok" if median < TARGET_MS else f"< {TARGET_MS} ms MISSED"
        print(f"{label:28} {median:7.1f}ms {fastest:7.1f}ms {cpu:6.1f}ms {db:5.1f}ms {size / 1024:7.1f}KiB  "
              f"{verdict} [{status}]")  # fmt: skip
    wf_a = queries.trace_waterfall(ns.pk, trace_ids[0])
    wf_b = queries.trace_waterfall(ns.pk, trace_ids[1])
    times = []
    for _ in range(7):
        started = time.perf_counter()
        result = compare(wf_a, wf_b)
        times.append((time.perf_counter() - started) * 1000)
    print(f"{'compare() alone':28} {statistics.median(times):7.1f}ms {min(times):7.1f}ms  "
          f"({len(result.operations)} operations)")  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:] == ["--inner"]:
        inner()
    else:
        main()
