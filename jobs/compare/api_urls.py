"""/api/v1/jobs/<ns>/<job>/executions/<a>/compare/<b>: two runs of a job compared."""

from django.urls import URLPattern, URLResolver, path

from jobs.compare.api import RunCompare

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "jobs/<id:namespace>/<id:job>/executions/<id:a>/compare/<id:b>",
        RunCompare.as_view(),
        name="api-execution-compare",
    ),
]
