from django.urls import URLPattern, URLResolver, path

from traces import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("traces/", views.trace_search, name="trace-search"),
    path("traces/<str:trace_id>/", views.trace_detail, name="trace"),
    path("traces/<str:trace_id>/rows/<str:span_id>/", views.trace_rows, name="trace-rows"),
    path("traces/<str:trace_id>/spans/<str:span_id>/", views.span_fragment, name="trace-span"),
    path("traces/<str:trace_id>/otlp.json", views.trace_download, name="trace-download"),
]
