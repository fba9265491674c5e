"""/api/v1/ jobs, executions and shards (DESIGN.md's API table; docs/api.md)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from jobs.api import views

_RUN = "jobs/<id:namespace>/<id:job>/executions/<id:execution_id>"

urlpatterns: list[URLPattern | URLResolver] = [
    path("jobs", views.JobList.as_view(), name="api-jobs"),
    # jobs/<ns>/<job> (GET, and PUT: the declaration) is jobs/schedules/api_urls.py's, on JobDetail.
    path("executions", views.ExecutionListIngest.as_view(), name="api-executions"),
    path(_RUN, views.ExecutionDetail.as_view(), name="api-execution"),
    path(f"{_RUN}/shards", views.ShardList.as_view(), name="api-execution-shards"),
    path("shards", views.ShardIngest.as_view(), name="api-shards"),
]
