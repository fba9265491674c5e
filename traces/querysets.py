"""Read intent for spans and trace summaries, always scoped by namespace first."""

from __future__ import annotations

from typing import Self

from jobs.querysets import ScopedQuerySet


class SpanQuerySet(ScopedQuerySet):
    def of_trace(self, trace_id: str) -> Self:
        return self.filter(trace_id=trace_id)

    def errors(self) -> Self:
        return self.filter(status_code=2)


class TraceQuerySet(ScopedQuerySet):
    def of_job(self, namespace: str, job: str) -> Self:
        return self.filter(job__namespace__name=namespace, job__name=job)

    def with_errors(self) -> Self:
        return self.filter(error_count__gt=0)
