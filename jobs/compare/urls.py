"""Comparing runs of a job: two runs side by side, one shard id across the job's runs (DESIGN.md URL contract)."""

from django.urls import URLPattern, URLResolver, path

from jobs.compare import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("jobs/<id:namespace>/<id:job>/runs/<id:a>/compare/<id:b>/", views.run_compare, name="run-compare"),
    path("jobs/<id:namespace>/<id:job>/shards/<id:shard_id>/", views.shard_runs, name="job-shard"),
]
