from django.apps import AppConfig


class TracesConfig(AppConfig):
    name = "traces"
    verbose_name = "Traces"

    def ready(self) -> None:
        # Linking runs after both writers, first of their post-store steps (jobs/poststore.py lists them all).
        from jobs.poststore import record_steps
        from traces import linking
        from traces.logs import linking as log_linking
        from traces.poststore import span_steps

        record_steps.register("linking", linking.link_stored_records, order=100)
        span_steps.register("linking", linking.link_stored_spans, order=100)
        # Log records follow their spans' and traces' owners: after linking, whichever side arrives later.
        record_steps.register("log linking", log_linking.link_logs_after_records, order=150)
        span_steps.register("log linking", log_linking.link_logs_after_spans, order=150)
