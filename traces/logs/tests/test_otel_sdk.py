"""The real OpenTelemetry Python SDK exports logs to a live test server: its LoggerProvider, BatchLogRecordProcessor
and OTLP/HTTP log exporter, and the stdlib `logging` bridge (LoggingHandler), plain and gzip."""

from __future__ import annotations

import logging

import pytest
from opentelemetry._logs import LogRecord as ApiLogRecord
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from tests import factories
from traces.logs.models import LogRecord

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip], ids=["plain", "gzip"])
def test_the_sdk_log_exporter_and_the_logging_bridge_deliver_every_record_once(live_server, compression):
    ns = factories.namespace("payments")
    token = factories.token(ns, ["ingest"])
    exporter = OTLPLogExporter(
        endpoint=f"{live_server.url}/v1/logs",
        headers={"authorization": f"Bearer {token}"},
        compression=compression,
        timeout=10,
    )
    provider = LoggerProvider(resource=Resource.create({"service.name": "nightly-export", "job.name": "nightly"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=40))
    tracer = TracerProvider().get_tracer("jobtrace.tests")

    logger = logging.getLogger(f"jobtrace.tests.sdk.{compression.name}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger.addHandler(handler)
    try:
        with tracer.start_as_current_span("shard-3") as span:
            ctx = span.get_span_context()
            for i in range(100):
                logger.info("row %d copied", i, extra={"row": i})
            try:
                raise ValueError("field too long: account_name")
            except ValueError:
                logger.exception("copy failed")
        provider.get_logger("jobtrace.tests.api", "2.0").emit(
            ApiLogRecord(
                timestamp=1_764_000_000_000_000_000,
                severity_number=SeverityNumber.WARN,
                severity_text="WARN",
                body={"rows": 100, "table": "accounts"},
                attributes={"job.execution.id": "run-7"},
            )
        )
        assert provider.force_flush(10_000)
    finally:
        logger.removeHandler(handler)
        provider.shutdown()

    records = LogRecord.objects.filter(namespace=ns)
    assert records.count() == 102
    trace_id, span_id = format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
    first = records.get(body_text="row 0 copied")
    assert (first.trace_id, first.span_id) == (trace_id, span_id)
    assert first.flags & 0x01  # sampled, as the SDK sends its trace flags
    assert (first.severity_number, first.severity_text) == (9, "INFO")
    assert first.attributes["row"] == 0
    assert first.resource["service.name"] == "nightly-export"
    assert first.service == "nightly-export"
    assert first.job_name == "nightly"
    assert first.time_unix_nano > 0
    assert first.observed_time_unix_nano > 0
    failed = records.get(body_text="copy failed")
    assert failed.severity_number == 17
    assert failed.attributes["exception.type"] == "ValueError"
    assert "field too long" in failed.attributes["exception.message"]
    structured = records.get(severity_text="WARN")
    assert structured.body == {"rows": 100, "table": "accounts"}
    assert structured.time_ns == 1_764_000_000_000_000_000
    assert structured.job_execution_id == "run-7"
    assert structured.scope == {"name": "jobtrace.tests.api", "version": "2.0"}
