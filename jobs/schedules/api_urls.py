"""/api/v1/jobs/<ns>/<job>/schedule (GET). The declaration (PUT /api/v1/jobs/<ns>/<job>) is a method of the job's
own endpoint in jobs/api_urls.py."""

from django.urls import URLPattern, URLResolver, path

from jobs.schedules.api import JobScheduleView

urlpatterns: list[URLPattern | URLResolver] = [
    path("jobs/<id:namespace>/<id:job>/schedule", JobScheduleView.as_view(), name="api-job-schedule"),
]
