"""Everything under /api/v1/, one url module per resource."""

from django.urls import include, path

urlpatterns = [
    path("", include("jobs.api.urls")),  # jobs, executions, shards
    path("", include("jobs.sampling.api_urls")),  # jobs/<ns>/<job>/sampling
    path("", include("jobs.causality.api_urls")),  # messages
    path("", include("jobs.alerts.api_urls")),  # alerts and webhooks
    path("", include("traces.api.urls")),  # traces
    path("", include("console.api.urls")),  # lookup, schema, docs
]
