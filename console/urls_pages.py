from django.urls import URLPattern, URLResolver, path

from console import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("search", views.search, name="lookup"),
    path("healthz", views.healthz, name="healthz"),
]
