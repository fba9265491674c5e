"""Logs API: GET /api/v1/logs."""

from django.urls import URLPattern, URLResolver, path

from traces.logs.api import LogList

urlpatterns: list[URLPattern | URLResolver] = [
    path("logs", LogList.as_view(), name="api-logs"),
]
