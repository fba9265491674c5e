"""/correlations/<correlation_id>/ — the causality page of one workflow (DESIGN.md URL contract)."""

from django.urls import URLPattern, URLResolver, path

from jobs.causality import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("correlations/<path:correlation_id>/", views.correlation, name="correlation"),
]
