"""The retention form posts here: POST /jobs/<ns>/retention (from the job page)."""

from django.urls import URLPattern, URLResolver, path

from jobs.retention.views import update_retention

urlpatterns: list[URLPattern | URLResolver] = [
    path("jobs/<id:namespace>/retention", update_retention, name="namespace-retention"),
]
