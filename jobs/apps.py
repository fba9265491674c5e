from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        # The post-store steps of jobs' features (jobs/poststore.py lists every step and its order).
        from jobs.causality import store as messages
        from jobs.poststore import record_steps
        from jobs.schedules.monitor import take_missed_places
        from traces.poststore import span_steps

        record_steps.register("message envelopes", messages.envelopes_of_records, order=200)
        span_steps.register("message envelopes", messages.envelopes_of_spans, order=200)
        record_steps.register("missed ticks", take_missed_places, order=300)
