"""Traces API: GET /api/v1/traces and GET /api/v1/traces/<trace_id>."""

from django.urls import URLPattern, URLResolver, path

from traces.api.views import TraceDetail, TraceList

urlpatterns: list[URLPattern | URLResolver] = [
    path("traces", TraceList.as_view(), name="api-traces"),
    path("traces/<id:trace_id>", TraceDetail.as_view(), name="api-trace"),
]
