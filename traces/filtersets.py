"""Trace search over the per-trace summaries, shared by `GET /api/v1/traces` and the `/traces/` page.

Every filter answers from Trace / TraceService rows (indexed), except `operation` on non-root spans and `attr`,
which look into the spans of each candidate trace (one indexed probe per trace, bounded by the result limit).
Values are plain strings, so a GET form binds it as is.
"""

from __future__ import annotations

import re
from datetime import datetime

import django_filters
from django import forms
from django.core.validators import RegexValidator
from django.db.models import CharField, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from console.lookup import normalise_trace_id
from jobs.filtersets import MomentFilter
from traces.models import Span, Trace, TraceService

_BIGINT = 2**63
_DURATION = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|m|min|h)?$")
_DURATION_MS = {
    "ns": 1e-6,
    "us": 1e-3,
    "µs": 1e-3,
    "ms": 1.0,
    "s": 1000.0,
    "m": 60_000.0,
    "min": 60_000.0,
    "h": 3_600_000.0,
}
SCHEDULER_ORIGIN = ("traffic.origin", "scheduler")  # what the SDK puts on spans of calls a scheduler originated


def to_ns(when: datetime) -> int:
    """Nanoseconds since the epoch, held to the range of the bigint columns it is compared with."""
    ns = int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000
    return max(-_BIGINT, min(ns, _BIGINT - 1))


def parse_duration_ms(value: str) -> float:
    """A duration as people write it, in milliseconds: `1.5s`, `200ms`, `500us`, `2m`, `1h`; a bare number is ms."""
    match = _DURATION.match(value.strip().lower())
    if match is None:
        raise forms.ValidationError(
            "%(value)r is not a duration: use a number with a unit, e.g. 1.5s, 200ms or 500us (a bare number is ms)",
            params={"value": value[:80]},
        )
    return float(match.group(1)) * _DURATION_MS[match.group(2) or "ms"]


class DurationField(forms.CharField):
    def clean(self, value: str | None) -> float | None:  # type: ignore[override]
        value = super().clean(value)
        return parse_duration_ms(value) if value else None


class DurationFilter(django_filters.Filter):
    field_class = DurationField


def span_attribute_is(key: str, wanted: str) -> Exists:
    """A span of the outer trace (or its resource) carries key=wanted. Cast: a plain text comparison on both
    databases (SQLite would otherwise read the value as JSON)."""
    spans = Span.objects.filter(namespace_id=OuterRef("namespace_id"), trace_id=OuterRef("trace_id"))
    spans = spans.annotate(
        _a=Cast(KeyTextTransform(key, "attributes"), CharField()),
        _r=Cast(KeyTextTransform(key, "resource"), CharField()),
    )
    return Exists(spans.filter(Q(_a=wanted) | Q(_r=wanted)))


def root_origin() -> Subquery:
    """The root span's `traffic.origin`: a scalar subquery (one probe of the unique (namespace, trace id, span id)
    index per trace), which PostgreSQL evaluates row by row; an EXISTS it would turn into a hashed scan of every span
    carrying the attribute."""
    root = Span.objects.filter(
        namespace_id=OuterRef("namespace_id"), trace_id=OuterRef("trace_id"), span_id=OuterRef("root_span_id")
    ).order_by()
    return Subquery(root.values_list(Cast(KeyTextTransform(SCHEDULER_ORIGIN[0], "attributes"), CharField()))[:1])


def scheduler_originated() -> Q:
    """Scheduler-originated traffic, as the trace summary tells it in one index probe per trace: the trace belongs to
    a job (linking gave it a job, execution or shard: the scheduler's call and everything downstream of it), or its
    root span is marked `traffic.origin=scheduler` (a service that received the scheduler's call, the scheduler
    sending no spans itself). Needs `root_origin` annotated as `_root_origin`. Never a read of every span of a
    trace: a 50,000-span trace costs what a small one does."""
    return (
        Q(job__isnull=False) | Q(execution__isnull=False) | Q(shard__isnull=False) | Q(_root_origin=SCHEDULER_ORIGIN[1])
    )


class TraceFilterSet(django_filters.FilterSet):
    trace_id = django_filters.CharFilter(method="filter_trace_id", label="Trace id")
    job = django_filters.CharFilter(method="filter_job", label="Job", help_text="`namespace/job`, or a job name.")
    execution = django_filters.CharFilter(
        field_name="execution__execution_id", label="Execution", help_text="The scheduler's execution id."
    )
    shard = django_filters.CharFilter(field_name="shard__shard_id", label="Shard", help_text="A shard id.")
    service = django_filters.CharFilter(
        method="filter_service", label="Service", help_text="Any span's service (case-insensitive)."
    )
    operation = django_filters.CharFilter(
        method="filter_operation",
        label="Operation",
        help_text="The root span's name, or any span's name (case-insensitive).",
    )
    status = django_filters.ChoiceFilter(
        method="filter_status",
        choices=[("error", "error"), ("ok", "ok")],
        label="Status",
        help_text="`error`: a span failed; `ok`: none did.",
    )
    min_duration_ms = django_filters.NumberFilter(method="filter_min_duration", min_value=0, label="Min duration (ms)")
    max_duration_ms = django_filters.NumberFilter(method="filter_max_duration", min_value=0, label="Max duration (ms)")
    min_duration = DurationFilter(
        method="filter_min_duration",
        label="Min duration",
        help_text="With a unit: `1.5s`, `200ms`, `500us`, `2m` (a bare number is ms).",
    )
    max_duration = DurationFilter(
        method="filter_max_duration",
        label="Max duration",
        help_text="With a unit: `1.5s`, `200ms`, `500us`, `2m` (a bare number is ms).",
    )
    origin = django_filters.ChoiceFilter(
        method="filter_origin",
        choices=[("scheduler", "scheduler"), ("user", "user")],
        label="Traffic",
        help_text="`scheduler`: the trace belongs to a job (run), or its root span is marked "
        "traffic.origin=scheduler (a call a scheduler made); `user`: neither. Traces of no job are probed at their "
        "root span, one index lookup each.",
    )
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
            "min_duration",
            "max_duration",
            "origin",
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
        """Case-insensitive: the spellings stored in the caller's namespaces that match, then the indexed equality
        (without a request, a case-insensitive match per trace)."""
        wanted = value.strip()
        request = getattr(self, "request", None)
        if request is not None:
            from jobs.auth import Access
            from traces.queries import stored_services

            spellings = [s for s in stored_services(Access.of(request).readable) if s.lower() == wanted.lower()]
            rows = TraceService.objects.filter(trace=OuterRef("pk"), service__in=spellings or [wanted])
        else:
            rows = TraceService.objects.filter(trace=OuterRef("pk"), service__iexact=wanted)
        return queryset.filter(Exists(rows))

    def filter_operation(self, queryset: QuerySet[Trace], name: str, value: str) -> QuerySet[Trace]:
        wanted = value.strip()
        any_span = Span.objects.filter(
            namespace_id=OuterRef("namespace_id"), trace_id=OuterRef("trace_id"), name__iexact=wanted
        )
        return queryset.filter(Q(root_name__iexact=wanted) | Exists(any_span))

    def filter_origin(self, queryset: QuerySet[Trace], name: str, value: str) -> QuerySet[Trace]:
        marked = scheduler_originated()
        queryset = queryset.alias(_root_origin=root_origin())
        if value == "scheduler":
            return queryset.filter(marked)
        # NULL-safe "not": a root span without the attribute (or no root span) is user traffic.
        unmarked = Q(_root_origin__isnull=True) | ~Q(_root_origin=SCHEDULER_ORIGIN[1])
        return queryset.filter(unmarked, job__isnull=True, execution__isnull=True, shard__isnull=True)

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
            queryset = queryset.filter(span_attribute_is(key, wanted))
        return queryset
