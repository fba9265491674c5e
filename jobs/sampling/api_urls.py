"""/api/v1/jobs/<ns>/<job>/sampling: the job's sampling policy (GET, PUT)."""

from django.urls import URLPattern, URLResolver, path

from jobs.sampling.api import SamplingPolicyView

urlpatterns: list[URLPattern | URLResolver] = [
    path("jobs/<id:namespace>/<id:job>/sampling", SamplingPolicyView.as_view(), name="api-job-sampling"),
]
