"""Read intent, chainable and scoped: `Execution.objects.in_namespaces(ids).failed().since(t)`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

from django.db import models
from django.db.models import Count, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from jobs.choices import FAILURE_STATUSES, TERMINAL_STATUSES, RunStatus

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class NamespaceQuerySet(models.QuerySet):
    def for_user(self, user: AbstractBaseUser | AnonymousUser) -> Self:
        """Namespaces a signed-in user may read: their memberships (a superuser operates all of them)."""
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self.all()
        return self.filter(memberships__user=user)


class ScopedQuerySet(models.QuerySet):
    """Every model with a `namespace` foreign key reads through `in_namespaces` before anything else."""

    def in_namespaces(self, namespace_ids: Iterable[int]) -> Self:
        return self.filter(namespace_id__in=list(namespace_ids))


class JobQuerySet(ScopedQuerySet):
    def named(self, namespace: str, name: str) -> Self:
        """The job a URL names (/jobs/<namespace>/<job>/): at most one."""
        return self.filter(namespace__name=namespace, name=name)


class ExecutionQuerySet(ScopedQuerySet):
    def failed(self) -> Self:
        return self.filter(status__in=FAILURE_STATUSES)

    def running(self) -> Self:
        return self.filter(status=RunStatus.RUNNING)

    def finished(self) -> Self:
        return self.filter(status__in=TERMINAL_STATUSES)

    def since(self, when: datetime) -> Self:
        return self.filter(started_at__gte=when)

    def until(self, when: datetime) -> Self:
        return self.filter(started_at__lt=when)

    def of_job(self, namespace: str, job: str) -> Self:
        return self.filter(job__namespace__name=namespace, job__name=job)

    def named(self, namespace: str, job: str, execution_id: str) -> Self:
        """The execution a URL names (/jobs/<namespace>/<job>/runs/<execution_id>/): at most one."""
        return self.filter(job__namespace__name=namespace, job__name=job, execution_id=execution_id)

    def with_trace(self, trace_id: str) -> Self:
        return self.filter(Q(trace_id=trace_id) | Q(shards__trace_id=trace_id)).distinct()

    def with_shard_counts(self) -> Self:
        """Annotate shards_total, shards_failed, shards_succeeded, shards_running in one query."""
        return self.annotate(
            shards_total=Count("shards"),
            shards_failed=Count("shards", filter=Q(shards__status__in=FAILURE_STATUSES)),
            shards_succeeded=Count("shards", filter=Q(shards__status=RunStatus.SUCCEEDED)),
            shards_running=Count("shards", filter=Q(shards__status=RunStatus.RUNNING)),
        )


class ShardQuerySet(ScopedQuerySet):
    def named(self, namespace: str, job: str, execution_id: str, shard_id: str) -> Self:
        """The shard a URL names (.../runs/<execution_id>/shards/<shard_id>/): at most one."""
        return self.filter(
            execution__job__namespace__name=namespace,
            execution__job__name=job,
            execution__execution_id=execution_id,
            shard_id=shard_id,
        )

    def failed(self) -> Self:
        return self.filter(status__in=FAILURE_STATUSES)

    def with_label(self, key: str, value: str) -> Self:
        """Shards whose business label `key` is `value`. The key is data, never a lookup (`a__startswith` is a key)."""
        text = Cast(KeyTextTransform(key, "labels"), models.CharField())  # the same SQL meaning on SQLite
        return self.alias(_label=text).filter(_label=value)

    def failing_first(self) -> Self:
        order = models.Case(
            models.When(status=RunStatus.FAILED, then=0),
            models.When(status=RunStatus.TIMED_OUT, then=1),
            models.When(status=RunStatus.RUNNING, then=2),
            models.When(status=RunStatus.PENDING, then=3),
            models.When(status=RunStatus.CANCELLED, then=4),
            default=5,
            output_field=models.IntegerField(),
        )
        return self.alias(attention=order).order_by("attention", "index", "shard_id")

    def status_counts(self) -> dict[str, int]:
        rows: Any = self.order_by().values("status").annotate(n=Count("id"))
        return {row["status"]: row["n"] for row in rows}
