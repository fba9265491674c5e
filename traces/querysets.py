"""Read intent for spans and trace summaries, always scoped by namespace first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from django.db.models import Case, IntegerField, Value, When

from jobs.querysets import ScopedQuerySet

if TYPE_CHECKING:
    from jobs.models import Execution


class SpanQuerySet(ScopedQuerySet):
    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> Any:
        """The days of these spans have a partition first (PostgreSQL; traces/partitions.py)."""
        from traces import partitions

        objs = list(objs)
        partitions.ensure_for_values(partitions.SPANS, [o.start_ns for o in objs])
        return super().bulk_create(objs, *args, **kwargs)

    def of_trace(self, trace_id: str) -> Self:
        return self.filter(trace_id=trace_id)

    def errors(self) -> Self:
        return self.filter(status_code=2)


class TraceQuerySet(ScopedQuerySet):
    def of_job(self, namespace: str, job: str) -> Self:
        return self.filter(job__namespace__name=namespace, job__name=job)

    def with_errors(self) -> Self:
        return self.filter(error_count__gt=0)

    def of_execution(self, execution: Execution) -> Self:
        """Every trace linked to the execution: its own `trace_id`, the traces linking made it (or one of its
        shards) the owner of, and the traces any span of which belongs to it (by job attributes or span links).

        One IN over a UNION of indexed probes (the execution's own trace id, Trace.execution, Span.execution), so
        the namespace's other traces are never scanned."""
        from traces.models import Span

        ns = execution.namespace_id
        candidates: Any = (
            self.model.objects.filter(namespace_id=ns, execution_id=execution.pk)
            .order_by()
            .values("trace_id")
            .union(Span.objects.filter(namespace_id=ns, execution_id=execution.pk).order_by().values("trace_id"))
        )
        if execution.trace_id:
            own = self.model.objects.filter(namespace_id=ns, trace_id=execution.trace_id).order_by()
            candidates = candidates.union(own.values("trace_id"))
        return self.filter(namespace_id=ns, trace_id__in=candidates)

    def failing_first(self) -> Self:
        """Traces with an error span first, then by start."""
        failing = Case(When(error_count__gt=0, then=Value(0)), default=Value(1), output_field=IntegerField())
        return self.alias(_failing=failing).order_by("_failing", "start_ns", "trace_id")
