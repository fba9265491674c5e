"""What traces serves at the site root: the trace pages, and the OTLP/HTTP receiver at the path the OpenTelemetry
specification gives it (POST /v1/traces)."""

from django.urls import URLPattern, URLResolver, path

from traces import search, views
from traces.receiver import traces_view

urlpatterns: list[URLPattern | URLResolver] = [
    path("v1/traces", traces_view, name="otlp-traces"),
    path("traces/", search.trace_search, name="trace-search"),
    path("traces/<id:trace_id>/", views.trace_detail, name="trace"),
    path("traces/<id:trace_id>/rows/<id:span_id>/", views.trace_rows, name="trace-rows"),
    path("traces/<id:trace_id>/spans/<id:span_id>/", views.span_fragment, name="trace-span"),
    path("traces/<id:a>/compare/<id:b>/", views.trace_compare, name="trace-compare"),
    path("traces/<id:trace_id>/otlp.json", views.trace_download, name="trace-download"),
]
