"""PUT /api/v1/jobs/<ns>/<job>: declare a job with its schedule (docs/api.md "Declaring a job"); and
GET /api/v1/jobs/<ns>/<job>/schedule: its next and recent ticks with their outcome.

Needs an `ingest` token of the namespace (or an editor/admin member). The URL names the job; the body its fields,
each optional: a field left out keeps its stored value. Created: 201; updated: 200; the answer is the job as
GET /api/v1/jobs/<ns>/<job> shows it. A bad field is a 400 naming it and nothing is stored; a namespace the caller
may not write is a 403 whether it exists or not.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api.serializers import JobSerializer
from jobs.api.views import JobDetail
from jobs.auth import Access, IngestScope, ReadScope
from jobs.choices import JobKind
from jobs.models import Job
from jobs.schedules.ingest import InvalidDeclaration, parse_declaration
from jobs.schedules.queries import schedule_view
from jobs.schedules.store import declare_job

DECLARATION = inline_serializer(
    "JobDeclaration",
    fields={
        "kind": serializers.ChoiceField(choices=JobKind.choices, required=False),
        "schedule": serializers.CharField(
            required=False, allow_blank=True, allow_null=True, max_length=200, help_text="cron or '@every 15m'"
        ),
        "timezone": serializers.CharField(required=False, max_length=64, help_text="IANA name; default UTC"),
        "grace_seconds": serializers.IntegerField(required=False, min_value=0, max_value=31 * 86400),
        "max_runtime_seconds": serializers.IntegerField(
            required=False, allow_null=True, min_value=1, max_value=31 * 86400
        ),
        "owner": serializers.CharField(required=False, allow_blank=True, max_length=200),
        "description": serializers.CharField(required=False, allow_blank=True, max_length=10_000),
        "labels": serializers.DictField(child=serializers.CharField(allow_blank=True, max_length=500), required=False),
    },
)

SCHEMA = extend_schema(
    summary="Declare a job with its schedule",
    description=(
        "Creates the job or updates the fields given (a field left out keeps its stored value). `schedule` is a "
        "five-field cron expression, a macro such as `@daily`, or an interval `@every 15m`; `timezone` an IANA "
        "name. See docs/api.md."
    ),
    request=DECLARATION,
    responses={
        200: JobSerializer,
        201: JobSerializer,
        400: OpenApiResponse(description="A field is wrong; the body names it. Nothing was stored."),
        401: OpenApiResponse(description="No or an invalid bearer token."),
        403: OpenApiResponse(description="The token lacks `ingest`, or belongs to another namespace."),
    },
    examples=[
        OpenApiExample(
            "Nightly at 02:30 in Berlin",
            value={"schedule": "30 2 * * *", "timezone": "Europe/Berlin", "grace_seconds": 600},
            request_only=True,
        )
    ],
)


class JobView(JobDetail):
    """GET /api/v1/jobs/<ns>/<job> (core's JobDetail, scope `read`) and PUT: the declaration (scope `ingest`)."""

    def get_permissions(self) -> list[BasePermission]:
        return [IngestScope()] if self.request.method == "PUT" else [ReadScope()]

    @SCHEMA
    def put(self, request: Request, namespace: str, job: str) -> Response:
        return put_declaration(request, namespace, job)


def put_declaration(request: Request, namespace: str, job: str) -> Response:
    ns = Access.of(request).namespace_for_write(namespace)  # 403 naming the namespace otherwise
    stored = Job.objects.filter(namespace=ns, name=job).values_list("timezone", flat=True).first()
    try:
        declaration = parse_declaration(request.data, stored_timezone=stored or "UTC")
    except InvalidDeclaration as invalid:
        return Response(invalid.errors, status=status.HTTP_400_BAD_REQUEST)
    declared, created = declare_job(ns, job, declaration)
    return Response(JobSerializer(declared).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


_TICK_FIELDS = {
    "tick": serializers.DateTimeField(),
    "outcome": serializers.ChoiceField(
        choices=["on_time", "late", "missed", "failed", "running", "stuck", "pending", "cancelled", "unwatched"]
    ),
    "execution_id": serializers.CharField(allow_null=True),
    "url": serializers.CharField(allow_null=True),
}
_SCHEDULE = inline_serializer(
    "JobSchedule",
    fields={
        "namespace": serializers.CharField(),
        "job": serializers.CharField(),
        "schedule": serializers.CharField(),
        "timezone": serializers.CharField(),
        "description": serializers.CharField(),
        "grace_seconds": serializers.IntegerField(),
        "max_runtime_seconds": serializers.IntegerField(allow_null=True),
        "next": serializers.ListField(child=serializers.DateTimeField()),
        "recent": inline_serializer("ScheduleTick", fields=_TICK_FIELDS, many=True),
        "last_success": serializers.DictField(allow_null=True),
    },
)


class JobScheduleView(APIView):
    """GET /api/v1/jobs/<ns>/<job>/schedule: the next ticks and the recent ones with their outcome (scope `read`)."""

    permission_classes = [ReadScope]

    @extend_schema(
        responses={200: _SCHEDULE, 404: OpenApiResponse(description="No such job, or it has no schedule.")},
        summary="The job's schedule: next ticks, recent ticks with their outcome",
    )
    def get(self, request: Request, namespace: str, job: str) -> Response:
        found = (
            Job.objects.in_namespaces(Access.of(request).readable)
            .named(namespace, job)
            .select_related("namespace")
            .first()
        )
        view = schedule_view(found, timezone.now()) if found is not None else None
        if view is None:
            detail = "No such job." if found is None else "This job has no schedule."
            return Response({"detail": detail}, status=status.HTTP_404_NOT_FOUND)
        return Response(view.as_dict())
