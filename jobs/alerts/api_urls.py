"""/api/v1/alerts: the two webhook receivers and the read API."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from jobs.api import alerts

urlpatterns: list[URLPattern | URLResolver] = [
    path("alerts/alertmanager", alerts.AlertmanagerWebhook.as_view(), name="api-alerts-alertmanager"),
    path("alerts/grafana", alerts.GrafanaWebhook.as_view(), name="api-alerts-grafana"),
    path("alerts", alerts.AlertList.as_view(), name="api-alerts"),
    path("alerts/<int:pk>", alerts.AlertDetail.as_view(), name="api-alert"),
]
