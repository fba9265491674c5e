from django.urls import URLPattern, URLResolver, path

from jobs import alert_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("alerts/", alert_views.alert_list, name="alerts"),
    path("alerts/<int:pk>/", alert_views.alert_detail, name="alert"),
]
