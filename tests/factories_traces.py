"""Factories for spans and trace summaries (written straight to the tables, no ingest path), and the DESIGN.md
scenarios the console pages are tested on."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from jobs.choices import JobKind, RunStatus
from jobs.models import Execution, Job, Namespace, Shard
from tests import factories
from traces.models import Span, SpanLink, StatusCode, Trace, TraceService

_seq = itertools.count(1)
MS = 1_000_000


def ns_of(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000_000)


def span(
    ns: Namespace,
    trace_id: str,
    *,
    span_id: str | None = None,
    parent: str = "",
    name: str = "op",
    service: str = "svc",
    start_ns: int | None = None,
    duration_ms: float = 10,
    error: bool = False,
    status_message: str = "",
    attributes: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
    links: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> Span:
    return Span.objects.create(
        namespace=ns,
        trace_id=trace_id,
        span_id=span_id or secrets.token_hex(8),
        parent_span_id=parent,
        name=name,
        service=service,
        kind=fields.pop("kind", 2),
        start_ns=start_ns if start_ns is not None else ns_of(timezone.now()),
        duration_ns=int(duration_ms * MS),
        status_code=StatusCode.ERROR if error else StatusCode.UNSET,
        status_message=status_message,
        attributes=attributes or {},
        resource={"service.name": service, **fields.pop("resource", {})},
        events=events or [],
        links=links or [],
        **fields,
    )


def summarise(
    ns: Namespace,
    trace_id: str,
    *,
    job: Job | None = None,
    execution: Execution | None = None,
    shard: Shard | None = None,
) -> Trace:
    """The Trace summary and per-service rows from the stored spans (what span ingest keeps up to date)."""
    spans = list(Span.objects.filter(namespace=ns, trace_id=trace_id))
    ids = {s.span_id for s in spans}
    roots = sorted((s for s in spans if not s.parent_span_id or s.parent_span_id not in ids), key=lambda s: s.start_ns)
    root = roots[0]
    start = min(s.start_ns for s in spans)
    end = max(s.start_ns + s.duration_ns for s in spans)
    services = sorted({s.service for s in spans})
    trace, _ = Trace.objects.update_or_create(
        namespace=ns,
        trace_id=trace_id,
        defaults={
            "root_span_id": root.span_id,
            "root_service": root.service,
            "root_name": root.name,
            "start_ns": start,
            "duration_ns": end - start,
            "span_count": len(spans),
            "error_count": sum(1 for s in spans if s.status_code == StatusCode.ERROR),
            "services": services,
            "job": job or (execution.job if execution else None),
            "execution": execution,
            "shard": shard,
        },
    )
    TraceService.objects.filter(trace=trace).delete()
    TraceService.objects.bulk_create(
        TraceService(
            trace=trace,
            namespace=ns,
            service=svc,
            start_ns=start,
            span_count=sum(1 for s in spans if s.service == svc),
            error_count=sum(1 for s in spans if s.service == svc and s.status_code == StatusCode.ERROR),
        )
        for svc in services
    )
    return trace


def link(ns: Namespace, source: Span, target_trace: str, target_span: str) -> SpanLink:
    return SpanLink.objects.create(
        namespace=ns,
        trace_id=source.trace_id,
        span_id=source.span_id,
        linked_trace_id=target_trace,
        linked_span_id=target_span,
    )


VALIDATION_ERROR = "Field 'account_name' exceeds maximum length of 64 (got 71)"


@dataclass
class AccountMigration:
    job: Job
    execution: Execution
    failing: Shard
    trace_id: str
    failing_span: Span
    shards: list[Shard]


def account_migration(ns: Namespace, shard_count: int = 50, *, name: str = "account-migration") -> AccountMigration:
    """DESIGN.md's failing shard: a MapReduce account migration whose shard for account 1000002 fails with a
    field-length validation error raised in a downstream service."""
    job = factories.job(ns, name, kind=JobKind.SHARDED, schedule="0 2 * * *", owner="payments-oncall")
    started = timezone.now() - timedelta(hours=1)
    execution = factories.execution(
        job,
        f"mig-{next(_seq)}",
        status=RunStatus.FAILED,
        started_at=started,
        finished_at=started + timedelta(seconds=42),
        worker="mr-master-1",
        params={"batch": "2026-11", "accounts": shard_count},
        error="1 of 50 shards failed",
        trace_id=factories.trace_id(),
        sampled=True,
    )
    shards = []
    failing = None
    for i in range(shard_count):
        account = str(1000000 + i)
        bad = account == "1000002"
        shards.append(
            factories.shard(
                execution,
                f"shard-{i}",
                index=i,
                labels={"account": account, "region": "eu"},
                status=RunStatus.FAILED if bad else RunStatus.SUCCEEDED,
                worker=f"mr-worker-{i % 4}",
                started_at=started + timedelta(seconds=1),
                finished_at=started + timedelta(seconds=2 + (i % 5)),
                duration_ms=1000 + (i % 5) * 1000,
                error=f"AccountValidationError: {VALIDATION_ERROR}" if bad else "",
                trace_id=factories.trace_id() if bad else "",
            )
        )
        if bad:
            failing = shards[-1]
    assert failing is not None, "shard_count must be at least 3"
    t0 = ns_of(started + timedelta(seconds=1))
    tid = failing.trace_id
    root_attributes = {"job.name": job.name, "job.shard.id": failing.shard_id, "account.id": "1000002"}
    root = span(ns, tid, name="migrate account 1000002", service="account-migrator", start_ns=t0, duration_ms=900,
                error=True, status_message="shard failed", kind=1, attributes=root_attributes)  # fmt: skip
    span(ns, tid, parent=root.span_id, name="SELECT accounts", service="account-migrator",
                start_ns=t0 + 5 * MS, duration_ms=40, kind=3, attributes={"db.system": "postgresql"})  # fmt: skip
    call = span(ns, tid, parent=root.span_id, name="POST /v2/accounts", service="account-migrator",
                start_ns=t0 + 50 * MS, duration_ms=800, kind=3, error=True, status_message="HTTP 422",
                attributes={"http.request.method": "POST", "url.full": "https://accounts.internal/v2/accounts",
                            "http.response.status_code": 422})  # fmt: skip
    server = span(ns, tid, parent=call.span_id, name="AccountService.save", service="account-service",
                  start_ns=t0 + 60 * MS, duration_ms=700, kind=2, error=True, status_message="validation failed",
                  attributes={"rpc.method": "save"})  # fmt: skip
    validate = span(
        ns,
        tid,
        parent=server.span_id,
        name="validate account",
        service="account-service",
        start_ns=t0 + 70 * MS,
        duration_ms=3,
        kind=1,
        error=True,
        status_message=VALIDATION_ERROR,
        attributes={"validation.field": "account_name", "validation.max_length": 64},
        events=[
            {
                "time_ns": t0 + 72 * MS,
                "name": "exception",
                "attributes": {
                    "exception.type": "FieldLengthValidationError",
                    "exception.message": VALIDATION_ERROR,
                    "exception.stacktrace": 'Traceback (most recent call last):\n  File "accounts/validate.py", '
                    "line 88, in check_lengths\n    raise FieldLengthValidationError(...)",
                },
            }
        ],
    )
    span(ns, tid, parent=server.span_id, name="INSERT audit_log", service="account-service",
         start_ns=t0 + 80 * MS, duration_ms=5, kind=3)  # fmt: skip
    summarise(ns, tid, job=job, execution=execution, shard=failing)
    return AccountMigration(job, execution, failing, tid, validate, shards)


def big_trace(ns: Namespace, n: int, *, fanout: int = 10, errors: int = 2) -> tuple[str, list[str]]:
    """A trace of n spans, a `fanout`-ary tree, with a few error spans deep inside. Returns (trace_id, error ids)."""
    tid = factories.trace_id()
    t0 = ns_of(timezone.now() - timedelta(minutes=10))
    ids = [f"{i + 1:016x}" for i in range(n)]
    rows = []
    error_at = {n - 1 - k * 7 for k in range(errors)}
    for i in range(n):
        parent = ids[(i - 1) // fanout] if i else ""
        rows.append(
            Span(
                namespace=ns,
                trace_id=tid,
                span_id=ids[i],
                parent_span_id=parent,
                name=f"op-{i % 17}",
                service=f"svc-{i % 5}",
                kind=1,
                start_ns=t0 + i * 1000,
                duration_ns=max(1_000_000_000 - i * 50_000, 1000),
                status_code=StatusCode.ERROR if i in error_at else StatusCode.UNSET,
                attributes={},
                resource={},
            )
        )
    Span.objects.bulk_create(rows, batch_size=2000)
    return tid, [ids[i] for i in sorted(error_at)]
