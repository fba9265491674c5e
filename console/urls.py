"""Top-level routes. Each feature owns its own url module; this file only mounts them."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    # OTLP/HTTP receiver: POST /v1/traces
    path("", include("traces.receiver_urls")),
    # REST API
    path("api/v1/", include("console.api_urls")),
    # Pages
    path("", include("console.page_urls")),
]
