"""The drill-down pages: jobs overview (/), job, execution and shard (DESIGN.md URL contract)."""

from django.urls import URLPattern, URLResolver, path

from jobs import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.overview, name="overview"),
    path("jobs/<id:namespace>/<id:job>/", views.job_detail, name="job"),
    path("jobs/<id:namespace>/<id:job>/runs/<id:execution_id>/", views.execution_detail, name="execution"),
    path(
        "jobs/<id:namespace>/<id:job>/runs/<id:execution_id>/shards/<id:shard_id>/",
        views.shard_detail,
        name="shard",
    ),
]
