from django.urls import URLPattern, URLResolver, path

from jobs.sampling.views import update_sampling

urlpatterns: list[URLPattern | URLResolver] = [
    path("jobs/<id:namespace>/<id:job>/sampling", update_sampling, name="job-sampling"),
]
