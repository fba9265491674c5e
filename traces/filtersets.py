"""Trace search over the per-trace summaries, shared by `GET /api/v1/traces` and the `/traces/` page.

Every filter answers from Trace / TraceService rows (indexed), except `operation` on non-root spans and `attr`,
which look into the spans of each candidate trace (one indexed probe per trace, bounded by the result limit).
Values are plain strings, so a GET form binds it as is.
"""

from __future__ import annotations

from datetime import datetime

import django_filters
from django.core.validators import RegexValidator
from django.db.models import CharField, Exists, OuterRef, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from console.lookup import normalise_trace_id
from jobs.filtersets import MomentFilter
from traces.models import Span, Trace, TraceService

_BIGINT = 2**63


def to_ns(when: datetime) -> int:
    """Nanoseconds since the epoch, held to the range of the bigint columns it is compared with."""
    ns = int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000
    return max(-_BIGINT, min(ns, _BIGINT - 1))


class TraceFilterSet(django_filters.FilterSet):
    trace_id = django_filters.CharFilter(method="filter_trace_id", label="Trace id")
    job = django_filters.CharFilter(method="filter_job", label="Job", help_text="`namespace/job`, or a job name.")
    execution = django_filters.CharFilter(
        field_name="execution__execution_id", label="Execution", help_text="The scheduler's execution id."
    )
    shard = django_filters.CharFilter(field_name="shard__shard_id", label="Shard", help_text="A shard id.")
    service = django_filters.CharFilter(method="filter_service", label="Service", help_text="Any span's service.")
    operation = django_filters.CharFilter(
        method="filter_operation", label="Operation", help_text="The root span's name, or any span's name."
    )
    status = django_filters.ChoiceFilter(
        method="filter_status",
        choices=[("error", "error"), ("ok", "ok")],
        label="Status",
        help_text="`error`: a span failed; `ok`: none did.",
    )
    min_duration_ms = django_filters.NumberFilter(method="filter_min_duration", min_value=0, label="Min duration (ms)")
    max_duration_ms = django_filters.NumberFilter(method="filter_max_duration", min_value=0, label="Max duration (ms)")
    # The executions list's time filter: one reading of times (console/times.py), one message for a bad one.
    since = MomentFilter(method="filter_since", label="Since", help_text="RFC 3339, a date, or an age like `24h`.")
    until = MomentFilter(method="filter_until", label="Until", help_text="RFC 3339, a date, or an age like `1h`.")
    attr = django_filters.CharFilter(
        method="filter_attr",
        label="Attribute",
        help_text="`key:value` on any span (or its resource) of the trace; repeat to require several.",
        validators=[RegexValidator(r"^[^:]+:", "use key:value, e.g. http.route:/checkout")],
    )

    class Meta:
        model = Trace
        fields = [
            "trace_id",
            "job",
            "execution",
            "shard",
            "service",
            "operation",
            "status",
            "min_duration_ms",
            "max_duration_ms",
            "since",
            "until",
            "attr",
        ]

    def filter_trace_id(self, queryset: QuerySet[Trace], name: str, value: str) -> QuerySet[Trace]:
        normal = normalise_trace_id(value)
        return queryset.filter(trace_id=normal) if normal else queryset.none()

    def filter_job(self, queryset: QuerySet[Trace], name: str, value: str) -> QuerySet[Trace]:
        namespace, sep, job = value.strip().rpartition("/")
        if sep and namespace:
            return queryset.filter(job__namespace__name=namespace, job__name=job)
        return queryset.filter(job__name=job)

    def filter_service(self, queryset: QuerySet[Trace], name: str, value: str) -> QuerySet[Trace]:
        rows = TraceService.objects.filter(trace=OuterRef("pk"), service=value.strip())
        return queryset.filter(Exists(rows))

    def filter_operation(self, queryset: QuerySet[Trace], name: str, value: str) -> QuerySet[Trace]:
        any_span = Span.objects.filter(
            namespace_id=OuterRef("namespace_id"), trace_id=OuterRef("trace_id"), name=value.strip()
        )
        return queryset.filter(Q(root_name=value.strip()) | Exists(any_span))

    def filter_status(self, queryset: QuerySet[Trace], name: str, value: str) -> QuerySet[Trace]:
        if value == "error":
            return queryset.filter(error_count__gt=0)
        return queryset.filter(error_count=0)

    def filter_min_duration(self, queryset: QuerySet[Trace], name: str, value: float) -> QuerySet[Trace]:
        return queryset.filter(duration_ns__gte=int(value * 1_000_000))

    def filter_max_duration(self, queryset: QuerySet[Trace], name: str, value: float) -> QuerySet[Trace]:
        return queryset.filter(duration_ns__lte=int(value * 1_000_000))

    def filter_since(self, queryset: QuerySet[Trace], name: str, value: datetime) -> QuerySet[Trace]:
        return queryset.filter(start_ns__gte=to_ns(value))

    def filter_until(self, queryset: QuerySet[Trace], name: str, value: datetime) -> QuerySet[Trace]:
        return queryset.filter(start_ns__lt=to_ns(value))

    def filter_attr(self, queryset: QuerySet[Trace], name: str, value: str) -> QuerySet[Trace]:
        values = self.data.getlist("attr") if hasattr(self.data, "getlist") else [value]
        for item in values or [value]:
            key, sep, wanted = item.partition(":")
            key = key.strip()
            if not sep or not key:
                continue  # the form validated the first; a malformed repeat narrows nothing
            spans = Span.objects.filter(namespace_id=OuterRef("namespace_id"), trace_id=OuterRef("trace_id"))
            # Cast: a plain text comparison on both databases (SQLite would otherwise read the value as JSON)
            spans = spans.annotate(
                _a=Cast(KeyTextTransform(key, "attributes"), CharField()),
                _r=Cast(KeyTextTransform(key, "resource"), CharField()),
            )
            queryset = queryset.filter(Exists(spans.filter(Q(_a=wanted) | Q(_r=wanted))))
        return queryset
