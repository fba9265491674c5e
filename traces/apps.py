from django.apps import AppConfig


class TracesConfig(AppConfig):
    name = "traces"
    verbose_name = "Traces"

    def ready(self) -> None:
        # Linking runs after both writers, first of their post-store steps (jobs/poststore.py lists them all).
        from jobs.poststore import record_steps
        from traces import linking
        from traces.poststore import span_steps

        record_steps.register("linking", linking.link_stored_records, order=100)
        span_steps.register("linking", linking.link_stored_spans, order=100)
