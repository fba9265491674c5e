from django.urls import URLPattern, URLResolver, path

from jobs import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.overview, name="overview"),
    path("jobs/<str:namespace>/<str:job>/", views.job_detail, name="job"),
    path("jobs/<str:namespace>/<str:job>/runs/<str:execution_id>/", views.execution_detail, name="execution"),
    path(
        "jobs/<str:namespace>/<str:job>/runs/<str:execution_id>/shards/<str:shard_id>/",
        views.shard_detail,
        name="shard",
    ),
]
