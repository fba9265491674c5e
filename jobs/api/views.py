"""REST views for jobs, executions and shards: thin adapters between HTTP and the parser/writer/querysets.

Reads are scoped with `Access.of(request).readable` before anything else, so an object of another namespace is a
404 exactly like one that does not exist. Ingest parses the body with `jobs.ingest` (400 naming item and field),
checks the namespaces it names (403 naming both), then hands each namespace's records to `jobs.store`
inside one transaction: a batch is stored whole or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console import links
from jobs.api.pagination import NewestFirstCursorPagination
from jobs.api.serializers import (
    ExecutionDetailSerializer,
    ExecutionRecordSerializer,
    ExecutionSerializer,
    IngestResultSerializer,
    JobSerializer,
    RecordErrorsSerializer,
    ShardRecordSerializer,
    ShardSerializer,
)
from jobs.auth import Access, IngestScope, ReadScope
from jobs.filtersets import ExecutionFilterSet, JobFilterSet, ShardFilterSet
from jobs.ingest import (
    MAX_ERRORS,
    ExecutionRecord,
    InvalidRecords,
    RecordError,
    ShardRecord,
    decode_json,
    parse_executions,
    parse_shards,
)
from jobs.models import Execution, Job, Namespace, Shard
from jobs.store import WriteResult, upsert_executions, upsert_shards
from traces.queries import execution_traces

_INGEST_RESPONSES = {
    200: IngestResultSerializer,
    400: OpenApiResponse(RecordErrorsSerializer, description="Invalid records; nothing was stored."),
    401: OpenApiResponse(description="No or an invalid bearer token."),
    403: OpenApiResponse(description="The token lacks `ingest`, or a record names another namespace."),
    413: OpenApiResponse(RecordErrorsSerializer, description="The body exceeds DATA_UPLOAD_MAX_MEMORY_SIZE."),
}


class ByNamePagination(NewestFirstCursorPagination):
    ordering = ("name", "id")


class InsertionOrderPagination(NewestFirstCursorPagination):
    ordering = ("id",)


# --- reads -----------------------------------------------------------------------------------------------------


class JobList(generics.ListAPIView):
    """Jobs the caller may read, by name."""

    serializer_class = JobSerializer
    filterset_class = JobFilterSet
    pagination_class = ByNamePagination

    def get_queryset(self) -> QuerySet[Job]:
        return Job.objects.in_namespaces(Access.of(self.request).readable).select_related("namespace")


class JobDetail(generics.RetrieveAPIView):
    """GET the job (scope `read`); served with the declaration's PUT by jobs/schedules/api.py's JobView."""

    serializer_class = JobSerializer

    def get_object(self) -> Job:
        jobs = Job.objects.in_namespaces(Access.of(self.request).readable).select_related("namespace")
        return get_object_or_404(jobs.named(self.kwargs["namespace"], self.kwargs["job"]))


def _executions(request: Request) -> QuerySet[Execution]:
    return Execution.objects.in_namespaces(Access.of(request).readable).select_related("job__namespace")


def _execution_or_404(request: Request, kwargs: dict[str, Any]) -> Execution:
    return get_object_or_404(_executions(request).named(kwargs["namespace"], kwargs["job"], kwargs["execution_id"]))


@extend_schema_view(
    get=extend_schema(summary="List executions", description="Newest first; filters combine (AND)."),
    post=extend_schema(
        summary="Ingest execution records",
        description=(
            "One execution object or a list of at most JOBTRACE_MAX_BATCH (1000). Upserted by (namespace, job, "
            "execution_id); status only moves forward; a batch is atomic and idempotent. See docs/api.md."
        ),
        request=ExecutionRecordSerializer(many=True),
        responses=_INGEST_RESPONSES,
    ),
)
class ExecutionListIngest(generics.ListAPIView):
    """GET lists executions (scope `read`); POST ingests execution records (scope `ingest`)."""

    serializer_class = ExecutionSerializer
    filterset_class = ExecutionFilterSet

    def get_permissions(self) -> list[BasePermission]:
        return [IngestScope()] if self.request.method == "POST" else [ReadScope()]

    def get_queryset(self) -> QuerySet[Execution]:
        return _executions(self.request)

    def post(self, request: Request) -> Response:
        return _ingest(request, parse_executions, upsert_executions, _execution_echo)


class ExecutionDetail(generics.RetrieveAPIView):
    """One execution, with its shards counted by status and every trace linked to it."""

    serializer_class = ExecutionDetailSerializer

    def get_object(self) -> Execution:
        run = _execution_or_404(self.request, self.kwargs)
        run.shard_status_counts = Shard.objects.filter(execution=run).status_counts()  # type: ignore[attr-defined]
        run.linked_traces = execution_traces(run)  # type: ignore[attr-defined]
        return run


class ShardList(generics.ListAPIView):
    """An execution's shards, in the order they were first reported."""

    serializer_class = ShardSerializer
    filterset_class = ShardFilterSet
    pagination_class = InsertionOrderPagination

    def get_queryset(self) -> QuerySet[Shard]:
        if getattr(self, "swagger_fake_view", False):
            return Shard.objects.none()
        run = _execution_or_404(self.request, self.kwargs)
        return (
            Shard.objects.in_namespaces(Access.of(self.request).readable)
            .filter(execution=run)
            .select_related("execution__job__namespace")
        )


# --- ingest ----------------------------------------------------------------------------------------------------


@extend_schema(
    summary="Ingest shard records",
    description=(
        "A list of at most JOBTRACE_MAX_BATCH (1000) shard objects. Upserted by (namespace, job, execution_id, "
        "shard_id); a shard whose execution has not arrived creates a placeholder execution. See docs/api.md."
    ),
    request=ShardRecordSerializer(many=True),
    responses=_INGEST_RESPONSES,
)
class ShardIngest(APIView):
    permission_classes = [IngestScope]

    def post(self, request: Request) -> Response:
        return _ingest(request, parse_shards, upsert_shards, _shard_echo)


def _execution_echo(ns: Namespace, r: ExecutionRecord) -> dict[str, str]:
    return {
        "namespace": ns.name,
        "job": r.job,
        "execution_id": r.execution_id,
        "url": links.execution_url(ns.name, r.job, r.execution_id),
    }


def _shard_echo(ns: Namespace, r: ShardRecord) -> dict[str, str]:
    return {
        "namespace": ns.name,
        "job": r.job,
        "execution_id": r.execution_id,
        "shard_id": r.shard_id,
        "url": links.shard_url(ns.name, r.job, r.execution_id, r.shard_id),
    }


def _ingest(
    request: Request,
    parse: Callable[..., Sequence[Any]],
    write: Callable[[Namespace, Sequence[Any]], WriteResult],
    echo: Callable[[Namespace, Any], dict[str, str]],
) -> Response:
    try:
        # request.body: past DATA_UPLOAD_MAX_MEMORY_SIZE, RequestDataTooBig, a 413 (jobs/api/errors.py)
        records = parse(decode_json(request.body), max_batch=settings.JOBTRACE_MAX_BATCH)
        targets = _namespaces(Access.of(request), records)
    except InvalidRecords as invalid:
        return Response({"errors": [e.as_dict() for e in invalid.errors]}, status=status.HTTP_400_BAD_REQUEST)
    groups: dict[int, list[Any]] = {}
    for record, ns in zip(records, targets, strict=True):
        groups.setdefault(ns.pk, []).append(record)
    by_pk = {ns.pk: ns for ns in targets}
    totals = {"received": 0, "created": 0, "updated": 0, "unchanged": 0}
    with transaction.atomic():
        for pk, group in groups.items():
            for name, count in write(by_pk[pk], group).as_counts().items():
                totals[name] += count
    results = [echo(ns, record) for record, ns in zip(records, targets, strict=True)]
    return Response({**totals, "results": results})


def _namespaces(access: Access, records: Sequence[ExecutionRecord | ShardRecord]) -> list[Namespace]:
    """Each record's namespace: the one it names or the token's; 403 naming both when the caller may not write it."""
    resolved: dict[str | None, Namespace] = {}
    missing: list[RecordError] = []
    for index, record in enumerate(records):
        name = record.namespace
        if name in resolved:
            continue
        if name is None and access.token is None:
            missing.append(RecordError(index, "namespace", "is required when signed in without a token"))
            continue
        resolved[name] = access.namespace_for_write(name)
    if missing:
        raise InvalidRecords(missing[:MAX_ERRORS])
    return [resolved[r.namespace] for r in records]
