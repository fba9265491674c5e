"""/api/v1/alerts: the two webhook receivers and the read API."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from jobs.alerts import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("alerts/alertmanager", api.AlertmanagerWebhook.as_view(), name="api-alerts-alertmanager"),
    path("alerts/grafana", api.GrafanaWebhook.as_view(), name="api-alerts-grafana"),
    path("alerts", api.AlertList.as_view(), name="api-alerts"),
    path("alerts/<int:pk>", api.AlertDetail.as_view(), name="api-alert"),
]
