"""The job page's sampling form posts here: POST /jobs/<ns>/<job>/sampling."""

from django.urls import URLPattern, URLResolver, path

from jobs.sampling.views import update_sampling

urlpatterns: list[URLPattern | URLResolver] = [
    path("jobs/<id:namespace>/<id:job>/sampling", update_sampling, name="job-sampling"),
]
