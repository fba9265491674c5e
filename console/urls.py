"""Every route of the console, in one list. Each app and feature owns two route modules at most: `urls.py` (what it
serves at the site root: pages, and traces' OTLP receiver) and `api_urls.py` (what it serves under /api/v1/). They
hold paths only; nothing includes anything but this file (docs/architecture.md, "Routes").

The paths are DESIGN.md's URL contract (tests/test_urls.py); order matters only where two patterns could match
the same path, and none here do.
"""

from django.contrib import admin
from django.urls import include, path

from console import views

API = "api/v1/"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    # REST API
    path(API, include("jobs.api_urls")),  # jobs, executions, shards
    path(API, include("jobs.sampling.api_urls")),  # jobs/<ns>/<job>/sampling
    path(API, include("jobs.compare.api_urls")),  # jobs/<ns>/<job>/executions/<a>/compare/<b>
    path(API, include("jobs.schedules.api_urls")),  # jobs/<ns>/<job>/schedule
    path(API, include("jobs.causality.api_urls")),  # messages, correlations, propagation, execution causality
    path(API, include("jobs.alerts.api_urls")),  # alerts and the Alertmanager / Grafana webhooks
    path(API, include("traces.api_urls")),  # traces
    path(API, include("traces.logs.api_urls")),  # logs
    path(API, include("console.api_urls")),  # lookup, the OpenAPI schema and its docs
    # Pages (and the OTLP/HTTP receiver, POST /v1/traces, in traces.urls)
    path("search", views.search, name="lookup"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("", include("jobs.urls")),  # /, /jobs/<ns>/<job>/, runs, shards
    path("", include("jobs.compare.urls")),  # runs compared, one shard across runs
    path("", include("jobs.sampling.urls")),  # /jobs/<ns>/<job>/sampling (the job page's form)
    path("", include("jobs.retention.urls")),  # /jobs/<ns>/retention (the job page's retention form)
    path("", include("jobs.alerts.urls")),  # /alerts/
    path("", include("jobs.causality.urls")),  # /correlations/<correlation_id>/
    path("", include("traces.urls")),  # /traces/, /v1/traces
    path("", include("traces.logs.urls")),  # /logs/, /v1/logs
]
