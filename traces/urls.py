from django.urls import URLPattern, URLResolver, path

from traces import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("traces/", views.trace_search, name="trace-search"),
    path("traces/<id:trace_id>/", views.trace_detail, name="trace"),
    path("traces/<id:trace_id>/rows/<id:span_id>/", views.trace_rows, name="trace-rows"),
    path("traces/<id:trace_id>/spans/<id:span_id>/", views.span_fragment, name="trace-span"),
    path("traces/<id:trace_id>/otlp.json", views.trace_download, name="trace-download"),
]
