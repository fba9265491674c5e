"""Browser pages (DESIGN.md's URL contract), one url module per area."""

from django.urls import include, path

urlpatterns = [
    path("", include("console.urls_pages")),  # /search, health
    path("", include("jobs.urls")),  # /, /jobs/...
    path("", include("jobs.sampling.urls")),  # /jobs/<ns>/<job>/sampling (form)
    path("", include("jobs.alerts.urls")),  # /alerts/
    path("", include("jobs.causality.urls")),  # /correlations/
    path("", include("traces.urls")),  # /traces/
]
