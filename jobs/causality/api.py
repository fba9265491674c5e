"""Messages API (envelopes in, envelopes out), propagation health of a job, and the causality of one execution.

Views only adapt HTTP: jobs/causality/ingest.py parses, jobs/causality/store.py stores, the walkers (chains.py,
gaps.py, workflow.py) read. Database errors raise (jobs.api.errors answers 503 + Retry-After).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console import links
from jobs.auth import Access, IngestScope, ReadScope
from jobs.causality.chains import caused, caused_by
from jobs.causality.choices import MESSAGING_OPERATION_ALIASES, MessagingOperation
from jobs.causality.gaps import find_gaps, propagation_health
from jobs.causality.ingest import MessageBatchError, parse_messages
from jobs.causality.models import Message
from jobs.causality.store import record_messages
from jobs.causality.workflow import namespaces_with, workflow
from jobs.models import Execution, Job, Namespace


class MessageSerializer(serializers.ModelSerializer):
    namespace = serializers.CharField(source="namespace.name")
    correlation_url = serializers.SerializerMethodField(help_text="Console page of the message's workflow.")
    trace_url = serializers.SerializerMethodField(help_text="Console page of the producer's trace.")

    class Meta:
        model = Message
        fields = [
            "namespace",
            "message_id",
            "correlation_id",
            "causation_id",
            "trace_id",
            "span_id",
            "tenant_id",
            "event_type",
            "operation",
            "messaging_operation",
            "published_at",
            "consumed_at",
            "producer_service",
            "consumer_service",
            "source",
            "received_at",
            "updated_at",
            "correlation_url",
            "trace_url",
        ]
        read_only_fields = fields

    def get_correlation_url(self, m: Message) -> str | None:
        return links.correlation_url(m.correlation_id) if m.correlation_id else None

    def get_trace_url(self, m: Message) -> str | None:
        return links.trace_url(m.trace_id, m.span_id or None) if m.trace_id else None


class MessageIn(serializers.Serializer):
    """One envelope (documentation of the body; jobs/causality/ingest.py does the reading)."""

    namespace = serializers.CharField(required=False, help_text="The token's namespace when omitted.")
    message_id = serializers.CharField(max_length=200)
    correlation_id = serializers.CharField(required=False, max_length=200)
    causation_id = serializers.CharField(
        required=False, max_length=200, help_text="message_id (or request / execution id) of the direct cause"
    )
    trace_id = serializers.RegexField(r"^(?!0{32})[0-9a-f]{32}$", required=False, help_text="the producer's trace")
    span_id = serializers.RegexField(r"^(?!0{16})[0-9a-f]{16}$", required=False, help_text="the producer's span")
    traceparent = serializers.CharField(required=False, help_text="W3C traceparent, instead of trace_id/span_id")
    tenant_id = serializers.CharField(required=False, max_length=200)
    event_type = serializers.CharField(required=False, max_length=200)
    operation = serializers.CharField(
        required=False, max_length=100, help_text="The business operation (e.g. `checkout`), free text."
    )
    messaging_operation = serializers.ChoiceField(
        choices=[*MessagingOperation.values, *MESSAGING_OPERATION_ALIASES],
        required=False,
        help_text=(
            "OpenTelemetry's messaging.operation.type (create, send, receive, process, settle); publish, produce "
            "and request are read as send, deliver and consume as process. When absent, an `operation` that names "
            "one of these fills it."
        ),
    )
    published_at = serializers.DateTimeField(required=False, help_text="RFC 3339 with offset")
    consumed_at = serializers.DateTimeField(required=False, help_text="RFC 3339 with offset")
    producer_service = serializers.CharField(required=False, max_length=200)
    consumer_service = serializers.CharField(required=False, max_length=200)


class MessageIngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Distinct message ids stored or updated.")
    namespaces = serializers.ListField(child=serializers.CharField())


class MessageBatchErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.ListField(child=serializers.DictField(), help_text="[{index, field, message}]")


class PropagationGapsSerializer(serializers.Serializer):
    envelope_incomplete = serializers.IntegerField()
    consumer_unlinked = serializers.IntegerField()
    spans_lost = serializers.IntegerField()
    shard_trace_unlinked = serializers.IntegerField()


class PropagationSerializer(serializers.Serializer):
    """A job's propagation health (docs/causality.md)."""

    namespace = serializers.CharField()
    job = serializers.CharField()
    url = serializers.CharField(help_text="Console page of the job.")
    executions = serializers.IntegerField(help_text="Executions looked at: the job's newest, at most `window`.")
    complete = serializers.IntegerField(help_text="Of those, executions with no propagation gap.")
    health = serializers.FloatField(allow_null=True, help_text="complete / executions, 0..1; null without runs.")
    window = serializers.IntegerField()
    gaps = PropagationGapsSerializer(help_text="Executions with each gap kind.")


_FILTERS = ("correlation_id", "causation_id", "trace_id", "message_id", "event_type")


class MessagesView(generics.ListAPIView):
    """GET: envelopes in the caller's namespaces, filtered. POST: a batch of envelopes (upsert by message_id)."""

    serializer_class = MessageSerializer
    filter_backends: ClassVar = []

    def get_permissions(self) -> list[Any]:
        return [IngestScope()] if self.request.method == "POST" else [ReadScope()]

    def get_queryset(self) -> QuerySet[Message]:
        qs = Message.objects.in_namespaces(Access.of(self.request).readable).select_related("namespace")
        params = self.request.query_params
        for name in _FILTERS:
            value = params.get(name, "").strip()
            if "\x00" in value:
                return qs.none()  # no stored id holds a NUL (PostgreSQL text cannot)
            if value:
                qs = qs.filter(**{name: value.lower() if name == "trace_id" else value})
        return qs

    @extend_schema(
        parameters=[OpenApiParameter(name, str, required=False) for name in _FILTERS],
        responses={200: MessageSerializer(many=True)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=MessageIn(many=True),
        responses={
            200: MessageIngestResultSerializer,
            400: OpenApiResponse(
                MessageBatchErrorSerializer, description="Names the item index and field of each problem."
            ),
            403: OpenApiResponse(description="The token lacks `ingest` or names another namespace."),
            503: OpenApiResponse(description="Database unavailable; retry after Retry-After seconds."),
        },
    )
    def post(self, request: Request) -> Response:
        try:
            envelopes = parse_messages(request.data, max_batch=settings.JOBTRACE_MAX_BATCH)
        except MessageBatchError as exc:
            return Response(
                {"detail": f"Nothing was stored. {exc}", "errors": [e.as_dict() for e in exc.errors]}, status=400
            )
        access = Access.of(request)
        by_namespace: dict[str, list[Any]] = {}
        for envelope in envelopes:
            by_namespace.setdefault(envelope.namespace, []).append(envelope)
        resolved: list[tuple[Namespace, list[Any]]] = [
            (access.namespace_for_write(name or None), batch) for name, batch in by_namespace.items()
        ]
        accepted = 0
        with transaction.atomic():
            for namespace, batch in resolved:
                accepted += record_messages(namespace.pk, batch, source="api")
        return Response({"accepted": accepted, "namespaces": sorted({ns.name for ns, _ in resolved})})


def _readable_job(request: Request, namespace: str, job: str) -> Job:
    found = (
        Job.objects.in_namespaces(Access.of(request).readable).named(namespace, job).select_related("namespace").first()
    )
    if found is None:
        raise Http404("No such job.")
    return found


class PropagationView(APIView):
    """Propagation health of a job: the share of its newest executions whose context is complete."""

    permission_classes: ClassVar = [ReadScope]

    @extend_schema(responses={200: PropagationSerializer})
    def get(self, request: Request, namespace: str, job: str) -> Response:
        found = _readable_job(request, namespace, job)
        health = propagation_health(found)
        return Response(
            {"namespace": found.namespace.name, "job": found.name, "url": links.job_url(namespace, job)}
            | health.as_dict()
        )


class ExecutionCausalityView(APIView):
    """Caused-by chain, caused tree and propagation gaps of one execution."""

    permission_classes: ClassVar = [ReadScope]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, namespace: str, job: str, execution_id: str) -> Response:
        execution = (
            Execution.objects.in_namespaces(Access.of(request).readable)
            .named(namespace, job, execution_id)
            .select_related("job__namespace")
            .first()
        )
        if execution is None:
            raise Http404("No such execution.")
        findings = find_gaps([execution])
        return Response(
            {
                "namespace": namespace,
                "job": job,
                "execution_id": execution_id,
                "url": links.execution_url_of(execution),
                "caused_by": caused_by(execution).as_dict(),
                "caused": caused(execution).as_dict(),
                "gaps": [g.as_dict() for g in findings.of(execution)],
                "notes": findings.notes.get(execution.pk, []),
            }
        )


class CorrelationView(APIView):
    """One workflow per readable namespace that knows the correlation id; 404 when none does."""

    permission_classes: ClassVar = [ReadScope]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, correlation_id: str) -> Response:
        namespaces = namespaces_with(correlation_id, Access.of(request).readable)
        flows = [wf for wf in (workflow(ns, correlation_id) for ns in namespaces) if not wf.empty]
        if not flows:
            raise Http404("No such workflow.")
        return Response(
            {
                "correlation_id": correlation_id,
                "url": links.correlation_url(correlation_id),
                "workflows": [
                    {
                        "namespace": wf.namespace.name,
                        "cycle": wf.cycle,
                        "truncated": wf.truncated,
                        "rows": [r.as_dict() for r in wf.rows],
                    }
                    for wf in flows
                ],
            }
        )
