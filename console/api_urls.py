"""/api/v1/lookup, the OpenAPI schema (/api/v1/schema) and its interactive docs (/api/v1/docs)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from console.api.lookup import LookupView
from console.api.schema import ApiDocsView, SchemaView

urlpatterns: list[URLPattern | URLResolver] = [
    path("lookup", LookupView.as_view(), name="api-lookup"),
    path("schema", SchemaView.as_view(), name="api-schema"),
    path("docs", ApiDocsView.as_view(), name="api-docs"),
]
