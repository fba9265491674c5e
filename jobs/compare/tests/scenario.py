"""The latency regression of DESIGN.md as runs of a job: nightly exports whose downstream ServiceApplication
spends 12 s more in userInfoSave from one night on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from jobs.choices import RunStatus
from jobs.models import Execution, Job, Namespace
from tests import factories
from tests import factories_traces as ft

MS = ft.MS


@dataclass
class Nightly:
    job: Job
    runs: list[Execution]  # oldest first


def run(job: Job, night: int, save_ms: float, *, status: str = RunStatus.SUCCEEDED, users: int = 3) -> Execution:
    started = timezone.now() - timedelta(days=10 - night)
    total_ms = 400 + users * (save_ms + 20)
    execution = factories.execution(
        job,
        f"nightly-export-{night:02d}",
        status=status,
        started_at=started,
        finished_at=started + timedelta(milliseconds=total_ms),
        trace_id=factories.trace_id(),
    )
    ns = job.namespace
    tid = execution.trace_id
    t0 = ft.ns_of(started)
    root = ft.span(ns, tid, name="nightly-export", service="export-worker", start_ns=t0, duration_ms=total_ms, kind=1)
    ft.span(ns, tid, parent=root.span_id, name="SELECT orders", service="export-worker", start_ns=t0 + MS,
            duration_ms=300, kind=3)  # fmt: skip
    cursor = t0 + 350 * MS
    for i in range(users):
        call = ft.span(ns, tid, parent=root.span_id, name=f"POST /users/{1000040 + i}", service="export-worker",
                       start_ns=cursor, duration_ms=save_ms + 10, kind=3)  # fmt: skip
        ft.span(ns, tid, parent=call.span_id, name="userInfoSave", service="ServiceApplication",
                start_ns=cursor + 2 * MS, duration_ms=save_ms, kind=2)  # fmt: skip
        cursor += int((save_ms + 20) * MS)
    ft.summarise(ns, tid, execution=execution)
    return execution


def nightly(ns: Namespace, fast: int = 3, slow: int = 2) -> Nightly:
    job = factories.job(ns, "nightly-export", schedule="0 2 * * *")
    runs = [run(job, n, 300) for n in range(fast)]
    runs += [run(job, fast + n, 4_300) for n in range(slow)]  # 3 users x 4 s more: +12 s
    return Nightly(job, runs)
