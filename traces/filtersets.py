"""Trace search over the per-trace summaries, shared by `GET /api/v1/traces` and the `/traces/` page.

Every filter answers from Trace / TraceService rows (indexed), except `operation` on non-root spans and `attr`,
which look into the spans of each candidate trace (one indexed probe per trace, bounded by the result limit).
Values are plain strings, so a GET form binds it as is.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import django_filters
from django import forms
from django.core.validators import RegexValidator
from django.db.models import CharField, Exists, OuterRef, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from console.lookup import normalise_trace_id
from traces.models import Span, Trace, TraceService

_RELATIVE = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(value: str) -> datetime:
    """RFC 3339 / ISO 8601 date-time or date, a Unix time in seconds, or a relative age like `24h` (ago)."""
    text = value.strip()
    match = _RELATIVE.match(text.lower())
    if match:
        return timezone.now() - timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    if re.fullmatch(r"\d{9,11}(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), tz=UTC)
    try:
        parsed = parse_datetime(text.replace(" ", "T") if "T" not in text and ":" in text else text)
    except ValueError:
        parsed = None
    if parsed is None:
        day = parse_date(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
        if day is None:
            raise forms.ValidationError(
                "%(value)r is not a time: use RFC 3339, a date, or an age like 24h", params={"value": value[:80]}
            )
        parsed = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def to_ns(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000


class WhenField(forms.CharField):
    def clean(self, value: str | None) -> datetime | None:  # type: ignore[override]
        value = super().clean(value)
        return parse_when(value) if value else None


class WhenFilter(django_filters.Filter):
    field_class = WhenField


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
    since = WhenFilter(method="filter_since", label="Since", help_text="RFC 3339, a date, or an age like `24h`.")
    until = WhenFilter(method="filter_until", label="Until", help_text="RFC 3339, a date, or an age like `1h`.")
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
