"""/correlations/<correlation_id>/ — the causality page of one workflow (DESIGN.md URL contract)."""

from django.urls import URLPattern, URLResolver, path

from jobs import causality_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("correlations/<path:correlation_id>/", causality_views.correlation, name="correlation"),
]
