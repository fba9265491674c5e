"""/api/v1/jobs/<ns>/<job> (GET: the job; PUT: its declaration) and /api/v1/jobs/<ns>/<job>/schedule (GET)."""

from django.urls import URLPattern, URLResolver, path

from jobs.schedules.api import JobScheduleView, JobView

urlpatterns: list[URLPattern | URLResolver] = [
    path("jobs/<id:namespace>/<id:job>", JobView.as_view(), name="api-job"),
    path("jobs/<id:namespace>/<id:job>/schedule", JobScheduleView.as_view(), name="api-job-schedule"),
]
