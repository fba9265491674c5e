"""django-filter FilterSets for jobs, executions and shards, shared by the REST API and the HTML pages.

Each FilterSet filters a queryset that the caller has already scoped with `in_namespaces(...)`; none of them
widens what a caller may see. Times accept RFC 3339 (`2024-05-01T12:00:00Z`) or a look-back such as `15m`, `24h`,
`7d` (relative to now), so a page's "last 24 hours" link and a script's exact window use the same parameter.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTransform
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from console.times import parse_moment
from jobs.choices import JobKind, RunStatus, Trigger
from jobs.models import Execution, Job, Shard

_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


class MomentField(forms.CharField):
    """A time (console.times.parse_moment: RFC 3339, naive read as UTC, a date, a Unix time, or a look-back like
    `24h`), cleaned to an aware datetime in UTC."""

    def to_python(self, value: Any) -> datetime | None:  # type: ignore[override]
        text = super().to_python(value).strip()
        if not text:
            return None
        try:
            return parse_moment(text)  # the one reading of query-string times, shared with the trace search
        except ValueError as exc:
            raise forms.ValidationError("%(reason)s", params={"reason": str(exc)}) from None  # the value may hold %


@extend_schema_field(OpenApiTypes.STR)
class MomentFilter(django_filters.Filter):
    field_class = MomentField


class TraceIdField(forms.CharField):
    """32 hex digits, any case, cleaned to lower case."""

    def to_python(self, value: Any) -> str:  # type: ignore[override]
        text = super().to_python(value).strip()
        if text and not _HEX32.match(text):
            raise forms.ValidationError("%(value)r is not a trace id (32 hex digits).", params={"value": text[:80]})
        return text.lower()


class TraceIdFilter(django_filters.CharFilter):
    field_class = TraceIdField


class LabelField(forms.CharField):
    """`key:value` (the value may itself contain colons), cleaned to a (key, value) pair."""

    def to_python(self, value: Any) -> tuple[str, str] | None:  # type: ignore[override]
        text = super().to_python(value).strip()
        if not text:
            return None
        if "\x00" in text:
            # Django's null-character validator sees the cleaned pair, not the text: refuse NUL here.
            raise forms.ValidationError(
                "%(value)r must not contain NUL characters.", params={"value": text[:80]}, code="null_characters"
            )
        key, sep, label_value = text.partition(":")
        if not sep or not key.strip():
            raise forms.ValidationError(
                "%(value)r is not a label filter; use key:value, e.g. account:1000002.", params={"value": text[:80]}
            )
        return key.strip(), label_value.strip()


@extend_schema_field(OpenApiTypes.STR)
class LabelFilter(django_filters.Filter):
    """Shards whose business label `key` equals `value` (`?label=account:1000002`)."""

    field_class = LabelField

    def filter(self, qs: QuerySet, value: tuple[str, str] | None) -> QuerySet:
        if not value:
            return qs
        key, label_value = value
        return qs.alias(_label_value=KeyTransform(key, "labels")).filter(_label_value=label_value)


class JobFilterSet(django_filters.FilterSet):
    namespace = django_filters.CharFilter(field_name="namespace__name", label="Namespace")
    name = django_filters.CharFilter(label="Job name")
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains")
    kind = django_filters.MultipleChoiceFilter(choices=JobKind.choices)

    class Meta:
        model = Job
        fields = ["namespace", "name", "q", "kind"]


class ExecutionFilterSet(django_filters.FilterSet):
    namespace = django_filters.CharFilter(field_name="job__namespace__name", label="Namespace")
    job = django_filters.CharFilter(field_name="job__name", label="Job name")
    execution_id = django_filters.CharFilter(label="Execution id")
    status = django_filters.MultipleChoiceFilter(choices=RunStatus.choices)
    trigger = django_filters.MultipleChoiceFilter(choices=Trigger.choices)
    since = MomentFilter(field_name="started_at", lookup_expr="gte", label="Started at or after")
    until = MomentFilter(field_name="started_at", lookup_expr="lt", label="Started before")
    trace_id = TraceIdFilter(method="filter_trace_id", label="Trace id (of the execution or one of its shards)")
    correlation_id = django_filters.CharFilter(label="Correlation id")
    q = django_filters.CharFilter(method="filter_q", label="Execution id or job name contains")

    class Meta:
        model = Execution
        fields = [
            "namespace",
            "job",
            "execution_id",
            "status",
            "trigger",
            "since",
            "until",
            "trace_id",
            "correlation_id",
            "q",
        ]

    def filter_trace_id(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return qs
        via_shards = Shard.objects.filter(trace_id=value).values("execution_id")
        return qs.filter(Q(trace_id=value) | Q(pk__in=via_shards))

    def filter_q(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return qs
        return qs.filter(Q(execution_id__icontains=value) | Q(job__name__icontains=value))


class ShardFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=RunStatus.choices)
    label = LabelFilter(label="Label (key:value)")
    shard_id = django_filters.CharFilter(label="Shard id")
    parent_shard_id = django_filters.CharFilter(label="Parent shard id")
    worker = django_filters.CharFilter()
    trace_id = TraceIdFilter(label="Trace id")

    class Meta:
        model = Shard
        fields = ["status", "label", "shard_id", "parent_shard_id", "worker", "trace_id"]
