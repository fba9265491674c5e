"""Alert webhooks (Alertmanager, Grafana) and the alerts read API.

Views only adapt HTTP: jobs/alerts/ingest.py reads the payload, jobs/alerts/store.py stores and links it.
Database errors are left to raise: jobs.api.errors turns an outage into 503 + Retry-After, which Alertmanager
retries (it never retries a 4xx).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

import django_filters
from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console import links
from jobs.alerts.choices import AlertLinkReason, AlertSource, AlertStatus
from jobs.alerts.ingest import MAX_ALERTS, Notification, PayloadError, parse_alertmanager, parse_grafana
from jobs.alerts.models import Alert, AlertLink
from jobs.alerts.queries import with_links
from jobs.alerts.store import StoredAlert, StoreResult, store_notification
from jobs.auth import Access, IngestScope, ReadScope
from jobs.choices import RunStatus
from jobs.filtersets import MomentFilter

# --- Output ------------------------------------------------------------------------------------------------


class LinkedExecutionSerializer(serializers.Serializer):
    """An execution (and, when the labels named one, a shard of it) that an alert is about."""

    namespace = serializers.CharField(source="execution.job.namespace.name")
    job = serializers.CharField(source="execution.job.name")
    execution_id = serializers.CharField(source="execution.execution_id")
    status = serializers.ChoiceField(choices=RunStatus.choices, source="execution.status")
    started_at = serializers.DateTimeField(source="execution.started_at", allow_null=True)
    finished_at = serializers.DateTimeField(source="execution.finished_at", allow_null=True)
    shard_id = serializers.CharField(source="shard.shard_id", allow_null=True, default=None)
    reason = serializers.ChoiceField(choices=AlertLinkReason.choices)
    url = serializers.SerializerMethodField(help_text="Console URL of the execution page.")
    shard_url = serializers.SerializerMethodField(help_text="Console URL of the shard page, when a shard is linked.")

    def get_url(self, link: AlertLink) -> str:
        return links.execution_url_of(link.execution)

    def get_shard_url(self, link: AlertLink) -> str | None:
        if link.shard is None:
            return None
        shard = link.shard
        shard.execution = link.execution
        return links.shard_url_of(shard)


class AlertSerializer(serializers.ModelSerializer):
    namespace = serializers.CharField(source="namespace.name")
    labels = serializers.DictField(child=serializers.CharField(allow_blank=True))
    annotations = serializers.DictField(child=serializers.CharField(allow_blank=True))
    url = serializers.SerializerMethodField(help_text="Console URL of the alert page.")
    executions = LinkedExecutionSerializer(many=True, source="links.all", help_text="Linked executions.")

    class Meta:
        model = Alert
        fields = [
            "id",
            "namespace",
            "source",
            "fingerprint",
            "status",
            "name",
            "labels",
            "annotations",
            "starts_at",
            "ends_at",
            "generator_url",
            "receiver",
            "group_key",
            "received_at",
            "updated_at",
            "url",
            "executions",
        ]
        read_only_fields = fields

    def get_url(self, alert: Alert) -> str:
        return links.alert_url(alert.pk)


class WebhookExecutionSerializer(serializers.Serializer):
    """An execution the alert was linked to (schema of the webhook response, which is built as plain values)."""

    namespace = serializers.CharField()
    job = serializers.CharField()
    execution_id = serializers.CharField()
    status = serializers.ChoiceField(choices=RunStatus.choices)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    shard_id = serializers.CharField(allow_null=True)
    reason = serializers.ChoiceField(choices=AlertLinkReason.choices)
    url = serializers.CharField(help_text="Console URL of the execution page.")
    shard_url = serializers.CharField(allow_null=True, help_text="Console URL of the shard page, when linked.")


class ReceivedAlertSerializer(serializers.Serializer):
    """One alert of the notification, as stored, with the executions it is linked to."""

    id = serializers.IntegerField()
    fingerprint = serializers.CharField()
    fingerprint_computed = serializers.BooleanField(
        help_text="True when the sender sent no fingerprint (or one shared by different label sets)."
    )
    name = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=AlertStatus.choices)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(allow_null=True)
    url = serializers.CharField(help_text="Console URL of the alert page.")
    executions = WebhookExecutionSerializer(many=True)
    note = serializers.CharField(allow_blank=True, help_text="Why nothing was linked, when nothing was.")


class WebhookResultSerializer(serializers.Serializer):
    received = serializers.IntegerField(help_text="Alerts in the notification.")
    stored = serializers.IntegerField(help_text="Distinct alerts stored or updated (fingerprint and start).")
    truncated_alerts = serializers.IntegerField(
        help_text="Alerts the sender left out of the group (max_alerts); they were not received, so not stored."
    )
    alerts = ReceivedAlertSerializer(many=True)


class WebhookProblemSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.CharField(), required=False, help_text="Field path (e.g. alerts[2].startsAt) -> problem."
    )


# --- Input (documentation of the webhook bodies; the parsers do the reading) ---------------------------------


class StringMapField(serializers.DictField):
    child = serializers.CharField(allow_blank=True, trim_whitespace=False)


class AlertmanagerAlertIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=AlertStatus.choices, required=False, help_text="Defaults to the group's.")
    labels = StringMapField(help_text="At least one label. Job, execution, shard and trace labels drive linking.")
    annotations = StringMapField(required=False)
    startsAt = serializers.DateTimeField()
    endsAt = serializers.DateTimeField(required=False, help_text="0001-01-01T00:00:00Z while firing.")
    generatorURL = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    fingerprint = serializers.CharField(
        required=False, allow_blank=True, max_length=64, help_text="Computed from the labels when absent."
    )


class AlertmanagerPayloadIn(serializers.Serializer):
    version = serializers.CharField(required=False, allow_blank=True)
    groupKey = serializers.CharField(required=False, allow_blank=True)
    truncatedAlerts = serializers.IntegerField(required=False, min_value=0)
    status = serializers.ChoiceField(choices=AlertStatus.choices)
    receiver = serializers.CharField(required=False, allow_blank=True)
    groupLabels = StringMapField(required=False)
    commonLabels = StringMapField(required=False)
    commonAnnotations = StringMapField(required=False)
    externalURL = serializers.CharField(required=False, allow_blank=True)
    alerts = serializers.ListField(child=AlertmanagerAlertIn(), min_length=1, max_length=MAX_ALERTS)


@extend_schema_field(OpenApiTypes.OBJECT)
class AnyObjectField(serializers.JSONField):
    pass


class GrafanaAlertIn(AlertmanagerAlertIn):
    silenceURL = serializers.CharField(required=False, allow_blank=True)
    dashboardURL = serializers.CharField(required=False, allow_blank=True)
    panelURL = serializers.CharField(required=False, allow_blank=True)
    values = AnyObjectField(required=False, allow_null=True)
    valueString = serializers.CharField(required=False, allow_blank=True)


class GrafanaPayloadIn(AlertmanagerPayloadIn):
    orgId = serializers.IntegerField(required=False)
    title = serializers.CharField(required=False, allow_blank=True)
    state = serializers.CharField(required=False, allow_blank=True)
    message = serializers.CharField(required=False, allow_blank=True)
    alerts = serializers.ListField(child=GrafanaAlertIn(), min_length=1, max_length=MAX_ALERTS)


_NAMESPACE_PARAM = OpenApiParameter(
    "namespace",
    str,
    required=False,
    description="Namespace to store the alerts in. A token's own namespace when omitted; must match the token.",
)
_WEBHOOK_RESPONSES = {
    200: WebhookResultSerializer,
    400: OpenApiResponse(WebhookProblemSerializer, description="The payload is not a notification; `errors` says why."),
    401: OpenApiResponse(WebhookProblemSerializer, description="No or unknown token."),
    403: OpenApiResponse(
        WebhookProblemSerializer, description="The token lacks the ingest scope or names another namespace."
    ),
    415: OpenApiResponse(WebhookProblemSerializer, description="The body is not JSON."),
    503: OpenApiResponse(
        WebhookProblemSerializer, description="Database unavailable; retry after Retry-After seconds."
    ),
}


class _WebhookView(APIView):
    permission_classes: ClassVar = [IngestScope]
    parse: ClassVar[Callable[[Any], Notification]]

    def post(self, request: Request) -> Response:
        target = request.query_params.get("namespace")
        if target is not None and ("\x00" in target or len(target) > 100):
            return Response({"detail": "The namespace parameter is not a namespace name."}, status=400)
        namespace = Access.of(request).namespace_for_write(target)
        try:
            notification = type(self).parse(request.data)
        except PayloadError as exc:
            return Response({"detail": f"Not a valid notification: {exc}", "errors": exc.errors}, status=400)
        result: StoreResult = store_notification(notification, namespace)
        # Built as plain values (documented by WebhookResultSerializer): thousands of links serialize fast.
        return Response(
            {
                "received": len(notification.alerts),
                "stored": len({stored.alert.pk for stored in result.alerts}),
                "truncated_alerts": result.truncated_alerts,
                "alerts": [_received(stored) for stored in result.alerts],
            }
        )


def _iso(value: datetime | None) -> str | None:
    """Times as DRF writes them: ISO 8601, UTC as Z."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _received(stored: StoredAlert) -> dict[str, Any]:
    alert = stored.alert
    return {
        "id": alert.pk,
        "fingerprint": alert.fingerprint,
        "fingerprint_computed": stored.parsed.fingerprint_computed,
        "name": alert.name,
        "status": alert.status,
        "starts_at": _iso(alert.starts_at),
        "ends_at": _iso(alert.ends_at),
        "url": links.alert_url(alert.pk),
        "executions": [
            {
                "namespace": e.namespace,
                "job": e.job,
                "execution_id": e.execution_id,
                "status": e.status,
                "started_at": _iso(e.started_at),
                "finished_at": _iso(e.finished_at),
                "shard_id": e.shard_id,
                "reason": e.reason,
                "url": e.url,
                "shard_url": e.shard_url,
            }
            for e in stored.executions
        ],
        "note": stored.note,
    }


class AlertmanagerWebhook(_WebhookView):
    parse = staticmethod(parse_alertmanager)

    @extend_schema(
        operation_id="alerts_alertmanager_webhook",
        summary="Receive a Prometheus Alertmanager webhook (version 4)",
        description=(
            "Point an Alertmanager `webhook_configs` receiver here with a token of scope `ingest` in "
            "`http_config.authorization`. Each alert is stored once per fingerprint and start; a repeat updates it, "
            "a resolved one closes it. The response lists, per alert, the executions it was linked to. See "
            "docs/alerts.md."
        ),
        request=AlertmanagerPayloadIn,
        parameters=[_NAMESPACE_PARAM],
        responses=_WEBHOOK_RESPONSES,
        tags=["alerts"],
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


class GrafanaWebhook(_WebhookView):
    parse = staticmethod(parse_grafana)

    @extend_schema(
        operation_id="alerts_grafana_webhook",
        summary="Receive a Grafana Alerting webhook contact point notification",
        description="The same as the Alertmanager receiver, for Grafana Alerting's webhook payload (version 1).",
        request=GrafanaPayloadIn,
        parameters=[_NAMESPACE_PARAM],
        responses=_WEBHOOK_RESPONSES,
        tags=["alerts"],
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


# --- Read ----------------------------------------------------------------------------------------------------


class AlertFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=AlertStatus.choices)
    source = django_filters.ChoiceFilter(choices=AlertSource.choices)
    job = django_filters.CharFilter(
        method="filter_job", help_text="Alerts linked to an execution of this job, or whose `job` label names it."
    )
    # Times as on every list (console/times.py): RFC 3339, a date, a Unix time or an age like `24h`.
    since = MomentFilter(field_name="starts_at", lookup_expr="gte", help_text="Started at or after.")
    until = MomentFilter(field_name="starts_at", lookup_expr="lt", help_text="Started before.")
    fingerprint = django_filters.CharFilter()

    class Meta:
        model = Alert
        fields = ["status", "source", "job", "since", "until", "fingerprint"]

    def filter_job(self, queryset: QuerySet[Alert], name: str, value: str) -> QuerySet[Alert]:
        linked = AlertLink.objects.filter(execution__job__name=value).values("alert_id")
        return queryset.filter(Q(pk__in=linked) | Q(labels__job=value))


class AlertList(generics.ListAPIView):
    permission_classes: ClassVar = [ReadScope]
    serializer_class = AlertSerializer
    filterset_class = AlertFilterSet

    def get_queryset(self) -> QuerySet[Alert]:
        access = Access.of(self.request)
        return with_links(Alert.objects.in_namespaces(access.readable).select_related("namespace"))

    @extend_schema(summary="List alerts, newest first", tags=["alerts"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class AlertDetail(generics.RetrieveAPIView):
    permission_classes: ClassVar = [ReadScope]
    serializer_class = AlertSerializer

    def get_queryset(self) -> QuerySet[Alert]:
        access = Access.of(self.request)
        return with_links(Alert.objects.in_namespaces(access.readable).select_related("namespace"))

    @extend_schema(
        summary="One alert with its linked executions",
        tags=["alerts"],
        responses={200: AlertSerializer, 404: OpenApiResponse(WebhookProblemSerializer, description="No such alert.")},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
