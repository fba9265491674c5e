"""The OTLP/HTTP receiver, mounted at the site root: POST /v1/traces."""

from django.urls import URLPattern, URLResolver, path

from traces.receiver import traces_view

urlpatterns: list[URLPattern | URLResolver] = [
    path("v1/traces", traces_view, name="otlp-traces"),
]
