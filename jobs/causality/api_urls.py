"""Messages, propagation health and causality under /api/v1/ (docs/causality.md)."""

from django.urls import URLPattern, URLResolver, path

from jobs.api import messages

urlpatterns: list[URLPattern | URLResolver] = [
    path("messages", messages.MessagesView.as_view(), name="api-messages"),
    path("correlations/<path:correlation_id>", messages.CorrelationView.as_view(), name="api-correlation"),
    path("jobs/<id:namespace>/<id:job>/propagation", messages.PropagationView.as_view(), name="api-job-propagation"),
    path(
        "jobs/<id:namespace>/<id:job>/executions/<id:execution_id>/causality",
        messages.ExecutionCausalityView.as_view(),
        name="api-execution-causality",
    ),
]
