"""The alert pages: /alerts/ and /alerts/<id>/."""

from django.urls import URLPattern, URLResolver, path

from jobs.alerts import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("alerts/", views.alert_list, name="alerts"),
    path("alerts/<int:pk>/", views.alert_detail, name="alert"),
]
