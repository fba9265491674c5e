"""The Celery app of the Celery tests and benchmark: RabbitMQ as broker, Redis as result backend, one queue per run.

The worker process imports this module (`celery -A tests.peers.celery_tasks worker`) with JOBTRACE_CELERY_WORKER=1
and instruments itself with jobtrace_sdk.celery (JOBTRACE_CELERY_INSTRUMENT=0 leaves it plain, for the benchmark's
baseline), and with opentelemetry-instrumentation-celery too when JOBTRACE_CELERY_OTEL=1. The test process builds
the same app with `make_app(queue)` to publish. No Django here: the worker is a job's process, not the console's.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, group, signals
from kombu import Queue

BROKER_URL = os.environ.get("JOBTRACE_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
RESULT_BACKEND = os.environ.get("JOBTRACE_TEST_RESULT_BACKEND", "redis://127.0.0.1:6379/0")


_apps: dict[str, Celery] = {}


def make_app(queue: str) -> Celery:
    """The app on `queue` (one per queue and process: Celery warns when a task name is registered twice)."""
    if queue in _apps:
        return _apps[queue]
    app = _apps[queue] = Celery("settlement", broker=BROKER_URL, backend=RESULT_BACKEND)
    app.conf.update(
        # One queue of this run only, gone when its worker goes: parallel runs never take each other's tasks.
        task_queues=[Queue(queue, durable=False, auto_delete=True)],
        task_default_queue=queue,
        task_default_exchange=queue,
        task_default_routing_key=queue,
        result_expires=600,
        worker_hijack_root_logger=False,
        worker_prefetch_multiplier=4,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
    )
    register_tasks(app)
    return app


def register_tasks(app: Celery) -> None:
    @app.task(name="payments.nightly_settlement", bind=True)
    def nightly_settlement(self: Any, batch: str, accounts: list[str]) -> str:
        """Settle each account as a group (the execution's shards), then send the report (a follow-on task)."""
        group(settle_account.s(batch, account) for account in accounts).apply_async()
        send_report.delay(batch)
        return self.request.id

    @app.task(name="payments.settle_account")
    def settle_account(batch: str, account: str) -> str:
        if account == "1000002":
            raise ValueError(f"account {account}: display_name is 72 characters; at most 64")
        return f"{batch}/{account} settled"

    @app.task(name="payments.send_report")
    def send_report(batch: str) -> str:
        return f"report of {batch} sent"

    @app.task(name="payments.flaky_fetch", bind=True, max_retries=3)
    def flaky_fetch(self: Any) -> str:
        if self.request.retries < 2:
            raise self.retry(exc=ConnectionError("rates service unavailable"), countdown=0)
        return "fetched"

    @app.task(name="payments.noop")
    def noop(i: int) -> int:
        return i


if os.environ.get("JOBTRACE_CELERY_WORKER") == "1":  # `celery -A tests.peers.celery_tasks worker` reads `app`
    app = make_app(os.environ["JOBTRACE_CELERY_QUEUE"])

if os.environ.get("JOBTRACE_CELERY_WORKER") == "1" and os.environ.get("JOBTRACE_CELERY_INSTRUMENT", "1") == "1":
    from jobtrace_sdk.celery import instrument

    instrument(app)

if os.environ.get("JOBTRACE_CELERY_WORKER") == "1" and os.environ.get("JOBTRACE_CELERY_OTEL") == "1":

    @signals.worker_process_init.connect(weak=False)
    def _opentelemetry(**kwargs: Any) -> None:
        """opentelemetry-instrumentation-celery in each pool process, exporting to the console (as its docs say)."""
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": "settlement-worker"}))
        exporter = OTLPSpanExporter(
            endpoint=os.environ["JOBTRACE_URL"].rstrip("/") + "/v1/traces",
            headers={"Authorization": f"Bearer {os.environ['JOBTRACE_TOKEN']}"},
            timeout=float(os.environ.get("JOBTRACE_EXPORT_TIMEOUT", "10")),
        )
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=200))
        trace.set_tracer_provider(provider)
        CeleryInstrumentor().instrument(tracer_provider=provider)

    @signals.worker_process_shutdown.connect(weak=False)
    def _flush_opentelemetry(**kwargs: Any) -> None:
        from opentelemetry import trace

        provider = trace.get_tracer_provider()
        if hasattr(provider, "force_flush"):
            provider.force_flush(5000)
