"""/api/v1/lookup, the OpenAPI schema (/api/v1/schema) and its interactive docs (/api/v1/docs)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from console.api import schema as _schema  # noqa: F401  (registers the bearer token scheme)
from console.api.lookup import LookupView


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI from drf-spectacular-sidecar's static files; its init script is a separate same-origin file,
    and the page has no inline style, so it runs under the console's `script-src 'self'; style-src 'self'`."""

    template_name = "api/docs.html"
    url_name = "api-schema"


urlpatterns: list[URLPattern | URLResolver] = [
    path("lookup", LookupView.as_view(), name="api-lookup"),
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs", ApiDocsView.as_view(), name="api-docs"),
]
