"""Messages, propagation health and causality under /api/v1/ (docs/causality.md)."""

from django.urls import URLPattern, URLResolver, path

from jobs.causality import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("messages", api.MessagesView.as_view(), name="api-messages"),
    path("correlations/<path:correlation_id>", api.CorrelationView.as_view(), name="api-correlation"),
    path("jobs/<id:namespace>/<id:job>/propagation", api.PropagationView.as_view(), name="api-job-propagation"),
    path(
        "jobs/<id:namespace>/<id:job>/executions/<id:execution_id>/causality",
        api.ExecutionCausalityView.as_view(),
        name="api-execution-causality",
    ),
]
