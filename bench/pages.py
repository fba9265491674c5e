"""Console pages: server time and HTML size on big data (`python -m bench pages`).

- the execution page with 10,000 shards (first page, and filtered to the shard of account 1000002);
- the trace page with a 10,000-span and a 50,000-span trace (opens collapsed to errors and the critical path);
- trace search by job over 1,000,000 stored spans (50,000 traces with their summaries);
- lookup by trace id.

Targets on this machine with PostgreSQL: execution page < 150 ms; 10,000-span trace page < 250 ms; search < 50 ms;
lookup < 20 ms. Data goes into a fresh database (bench/_support.fresh_database) with COPY. The measuring runs in a
child process so Django is set up against that database whatever other benchmarks did before. Server time is
the median of several requests through Django's full stack (middleware, session, views, templates) in-process.
"""

from __future__ import annotations

import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench._support import ROOT, fresh_database

TARGETS_MS = {
    "execution page, 10,000 shards": 150,
    "execution page, label account=1000002": 150,
    "trace page, 10,000 spans": 250,
    "search by job, 1,000,000 spans": 50,
    "lookup by trace id": 20,
}


def main() -> None:
    """BENCH_PAGES_REUSE=1 measures again on the database a previous run filled (data takes minutes to build)."""
    if os.environ.get("BENCH_PAGES_REUSE") == "1":
        from urllib.parse import urlsplit

        base = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jobtrace_bench"))
        url = base._replace(path=f"{base.path}_pages").geturl()
    else:
        url = fresh_database("pages")
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "console.settings", "DEBUG": "false"}
    subprocess.run([sys.executable, "-m", "bench.pages", "--inner"], cwd=ROOT, env=env, check=True)


# --- the child process -------------------------------------------------------------------------------------------


def _copy(table: str, columns: list[str], rows: Any) -> int:
    """COPY rows (tuples of already-formatted text, no tabs/newlines/backslashes) into a table."""
    from django.db import connection

    n = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3
        with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            buf = io.StringIO()
            for row in rows:
                buf.write("\t".join(row))
                buf.write("\n")
                n += 1
                if n % 20000 == 0:
                    copy.write(buf.getvalue())
                    buf = io.StringIO()
            copy.write(buf.getvalue())
    return n


def _span_columns() -> tuple[list[str], dict[str, str]]:
    """Every concrete Span column, with the text COPY writes when a row does not say (the field default)."""
    from traces.models import Span

    columns: list[str] = []
    defaults: dict[str, str] = {}
    now = datetime.now(tz=UTC).isoformat()
    for f in Span._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(f.column)
        if f.get_internal_type() == "JSONField":
            defaults[f.column] = json.dumps(f.get_default())
        elif f.get_internal_type() == "DateTimeField":
            defaults[f.column] = now
        elif f.null:
            defaults[f.column] = "\\N"
        else:
            default = f.get_default()
            defaults[f.column] = "" if default is None else str(default)
    return columns, defaults


def _spans_of_trace(
    ns_id: int, trace_id: str, n: int, t0: int, *, fanout: int = 8, errors: int = 3, services: int = 12
) -> list[dict[str, str]]:
    rng = random.Random(trace_id)
    ids = [f"{trace_id[:4]}{i + 1:012x}" for i in range(n)]
    error_at = {rng.randrange(n // 2, n) for _ in range(errors)} if n > 1 else set()
    out = []
    for i in range(n):
        depth_hint = 0
        j = i
        while j:
            j = (j - 1) // fanout
            depth_hint += 1
        out.append(
            {
                "namespace_id": str(ns_id),
                "trace_id": trace_id,
                "span_id": ids[i],
                "parent_span_id": ids[(i - 1) // fanout] if i else "",
                "name": f"operation-{i % 23}",
                "service": f"service-{i % services}",
                "kind": "2" if i % 3 == 0 else "3",
                "start_ns": str(t0 + depth_hint * 1_000_000 + rng.randrange(0, 5_000_000)),
                "duration_ns": str(max(2_000_000_000 // (depth_hint + 1) - rng.randrange(0, 1_000_000), 1000)),
                "status_code": "2" if i in error_at else "0",
                "status_message": "boom" if i in error_at else "",
                "attributes": json.dumps({"http.route": f"/r/{i % 7}", "n": i}),
            }
        )
    return out


def _insert_spans(rows: Any) -> int:
    from traces import partitions

    columns, defaults = _span_columns()
    rows = list(rows)
    partitions.ensure_for_values(partitions.SPANS, [int(row.get("start_ns", 0)) for row in rows])
    return _copy(
        "traces_span", columns, ([row.get(c, defaults[c]) for c in columns] for row in rows)
    )  # fmt: skip


def _summary(ns, trace_id: str, spans: list[dict[str, str]], **owners: Any):
    from traces.models import Trace, TraceService

    start = min(int(s["start_ns"]) for s in spans)
    end = max(int(s["start_ns"]) + int(s["duration_ns"]) for s in spans)
    services = sorted({s["service"] for s in spans})
    trace = Trace(
        namespace=ns,
        trace_id=trace_id,
        root_span_id=spans[0]["span_id"],
        root_service=spans[0]["service"],
        root_name=spans[0]["name"],
        start_ns=start,
        duration_ns=end - start,
        span_count=len(spans),
        error_count=sum(1 for s in spans if s["status_code"] == "2"),
        services=services,
        **owners,
    )
    service_rows = [TraceService(namespace=ns, service=svc, start_ns=start, span_count=1) for svc in services]
    return trace, service_rows


def _measure(client, url: str, repeat: int = 7, before=None) -> tuple[float, float, float, float, int, int]:
    """(median wall ms, min wall ms, median CPU ms of this process, median database ms, bytes, status) of GETs
    through the whole Django stack, after one warm-up. On a shared machine the wall time swings with other load;
    this process's CPU time plus the database's time is the steadier figure."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(url)
    walls, cpus, dbs = [], [], []
    for _ in range(repeat):
        if before is not None:  # e.g. forget the waterfalls kept (traces/recent.py): a first open each time
            before()
        with CaptureQueriesContext(connection) as queries:
            started, cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            walls.append((time.perf_counter() - started) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
        dbs.append(sum(float(q["time"]) for q in queries.captured_queries) * 1000)
    return (
        statistics.median(walls),
        min(walls),
        statistics.median(cpus),
        statistics.median(dbs),
        len(response.content),
        response.status_code,
    )


def inner() -> None:
    import django

    django.setup()
    from django.db import transaction
    from django.utils import timezone

    from jobs.choices import JobKind, RunStatus
    from jobs.models import Execution, Job, Namespace, Shard
    from tests import factories
    from traces.models import Trace, TraceService

    existing = Namespace.objects.filter(name="bench").first()
    if existing is not None:
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.get(username="bench-viewer")
        job = Job.objects.get(namespace=existing, name="account-migration")
        run = Execution.objects.get(job=job, execution_id="big-run")
        big = {n: f"{n:08x}" + "ab" * 12 for n in (10_000, 50_000)}
        print("data: reusing the database of a previous run")
        _run_cases(existing, user, job, run, big, f"{12345:08x}" + "cd" * 12)
        return

    began = time.perf_counter()
    ns = Namespace.objects.create(name="bench")
    user = factories.user(ns, "viewer", username="bench-viewer")
    now = timezone.now()

    # 1. An execution with 10,000 shards, 37 of them failed.
    job = Job.objects.create(namespace=ns, name="account-migration", kind=JobKind.SHARDED)
    run = Execution.objects.create(
        namespace=ns, job=job, execution_id="big-run", status=RunStatus.FAILED, started_at=now - timedelta(hours=1)
    )
    failed = set(random.Random(7).sample(range(10_000), 37)) | {2}
    Shard.objects.bulk_create(
        (
            Shard(
                namespace=ns,
                execution=run,
                shard_id=f"shard-{i}",
                index=i,
                labels={"account": str(1_000_000 + i), "region": "eu"},
                status=RunStatus.FAILED if i in failed else RunStatus.SUCCEEDED,
                worker=f"worker-{i % 16}",
                duration_ms=1000 + i % 5000,
                error="AccountValidationError: field too long" if i in failed else "",
            )
            for i in range(10_000)
        ),
        batch_size=2000,
    )

    # 2. Two big traces: 10,000 and 50,000 spans.
    t0 = int((now - timedelta(minutes=30)).timestamp() * 1e9)
    big = {}
    for n in (10_000, 50_000):
        tid = f"{n:08x}" + "ab" * 12
        spans = _spans_of_trace(ns.pk, tid, n, t0)
        _insert_spans(spans)
        trace, services = _summary(ns, tid, spans, job=job, execution=run)
        trace.save()
        for s in services:
            s.trace = trace
        TraceService.objects.bulk_create(services)
        big[n] = tid

    # 3. 1,000,000 more spans: 50,000 traces of 20 spans over 200 jobs, with their summaries.
    jobs = Job.objects.bulk_create(Job(namespace=ns, name=f"job-{j:03d}") for j in range(200))
    rng = random.Random(11)
    traces: list[Trace] = []
    service_rows: list[TraceService] = []

    def million():
        for k in range(50_000):
            tid = f"{k:08x}" + "cd" * 12
            start = t0 - k * 1_000_000_000
            spans = _spans_of_trace(ns.pk, tid, 20, start, fanout=4, errors=1 if rng.random() < 0.1 else 0)
            trace, services = _summary(ns, tid, spans, job=jobs[k % 200])
            traces.append(trace)
            service_rows.append(services)
            yield from spans

    with transaction.atomic():
        inserted = _insert_spans(million())
        Trace.objects.bulk_create(traces, batch_size=5000)
        for trace, rows in zip(traces, service_rows, strict=True):
            for r in rows:
                r.trace = trace
        TraceService.objects.bulk_create([r for rows in service_rows for r in rows], batch_size=10000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    took = time.perf_counter() - began
    print(f"data: 10,000 shards, {inserted + 60_000:,} spans, {len(traces) + 2:,} traces ({took:.0f} s)")

    _run_cases(ns, user, job, run, big, traces[12345].trace_id)


def _run_cases(ns, user, job, run, big: dict[int, str], some_trace_id: str) -> None:
    from django.test import Client

    from console import links

    client = Client()
    client.force_login(user)
    cases = [
        ("execution page, 10,000 shards", links.execution_url(ns.name, job.name, run.execution_id)),
        (
            "execution page, label account=1000002",
            links.execution_url(ns.name, job.name, run.execution_id) + "?label=account%3D1000002",
        ),
        ("shard page", links.shard_url(ns.name, job.name, run.execution_id, "shard-2")),
        ("trace page, 10,000 spans", links.trace_url(big[10_000])),
        ("trace page, 50,000 spans", links.trace_url(big[50_000])),
        ("search by job, 1,000,000 spans", f"/traces/?job={ns.name}/job-042"),
        ("search by job + service, 1,000,000 spans", f"/traces/?job={ns.name}/job-042&service=service-3"),
        ("lookup by trace id", f"/search?q={some_trace_id}"),
    ]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'page':42} {'wall med':>9} {'wall min':>9} {'cpu':>8} {'db':>7} {'HTML':>10}  target (on wall median)")
    for label, url in cases:
        median, fastest, cpu, db, size, status = _measure(client, url)
        target = TARGETS_MS.get(label)
        verdict = "" if target is None else (f"< {target} ms ok" if median < target else f"< {target} ms MISSED")
        print(
            f"{label:42} {median:7.1f}ms {fastest:7.1f}ms {cpu:6.1f}ms {db:5.1f}ms {size / 1024:8.1f}KiB"
            f"  {verdict} [{status}]"
        )


if __name__ == "__main__":
    if "--inner" in sys.argv:
        sys.path.insert(0, str(ROOT))
        inner()
    else:
        main()
