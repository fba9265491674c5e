"""What logs serves at the site root: the /logs/ search page, and the OTLP/HTTP receiver at the specification's
path (POST /v1/logs)."""

from django.urls import URLPattern, URLResolver, path

from traces.logs import views
from traces.logs.receiver import logs_view

urlpatterns: list[URLPattern | URLResolver] = [
    path("v1/logs", logs_view, name="otlp-logs"),
    path("logs/", views.log_search, name="log-search"),
]
