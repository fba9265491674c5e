"""The real OpenTelemetry Python SDK exports to a live test server: every span arrives exactly once, whole."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from tests import factories
from traces.models import Span, SpanLink, Trace

pytestmark = pytest.mark.django_db(transaction=True)


def _export(url: str, token: str, compression: Compression) -> dict[str, str]:
    exporter = OTLPSpanExporter(
        endpoint=f"{url}/v1/traces", headers={"authorization": f"Bearer {token}"}, compression=compression, timeout=10
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout", "host.name": "box-1"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=50))
    tracer = provider.get_tracer("jobtrace.tests", "1.2.3")
    ids: dict[str, str] = {}
    with tracer.start_as_current_span("nightly-export", kind=SpanKind.SERVER) as root:
        root.set_attributes(
            {
                "job.name": "nightly-export",
                "job.execution.id": "run-7",
                "messaging.message.id": "msg-1",
                "retries": 3,
                "ratio": 0.5,
                "dry_run": False,
                "tags": ["a", "b"],
            }
        )
        ids["root"] = format(root.get_span_context().span_id, "016x")
        ids["trace"] = format(root.get_span_context().trace_id, "032x")
        for i in range(120):
            with tracer.start_as_current_span(f"step-{i}", kind=SpanKind.CLIENT) as child:
                child.set_attribute("i", i)
        with tracer.start_as_current_span(
            "userInfoSave", links=[Link(root.get_span_context(), {"why": "test"})]
        ) as bad:
            bad.add_event("retrying", {"attempt": 2})
            bad.record_exception(ValueError("field too long: account_name"))
            bad.set_status(Status(StatusCode.ERROR, "validation failed"))
            ids["bad"] = format(bad.get_span_context().span_id, "016x")
    assert provider.force_flush(10_000)
    provider.shutdown()
    return ids


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip], ids=["plain", "gzip"])
def test_the_sdk_exporter_delivers_every_span_exactly_once(live_server, compression):
    ns = factories.namespace("payments")
    token = factories.token(ns, ["ingest"])
    ids = _export(live_server.url, token, compression)

    spans = Span.objects.filter(namespace=ns, trace_id=ids["trace"])
    assert spans.count() == 122
    root = spans.get(span_id=ids["root"])
    assert root.kind == 2
    assert root.parent_span_id == ""
    assert root.attributes["retries"] == 3
    assert root.attributes["ratio"] == 0.5
    assert root.attributes["dry_run"] is False
    assert root.attributes["tags"] == ["a", "b"]
    assert (root.job_name, root.job_execution_id, root.message_id) == ("nightly-export", "run-7", "msg-1")
    assert root.resource["service.name"] == "checkout"
    assert root.resource["host.name"] == "box-1"
    assert root.scope == {"name": "jobtrace.tests", "version": "1.2.3"}
    assert root.flags & 0x100  # CONTEXT_HAS_IS_REMOTE, as the SDK sends it

    bad = spans.get(span_id=ids["bad"])
    assert (bad.status_code, bad.status_message) == (2, "validation failed")
    exception = next(e for e in bad.events if e["name"] == "exception")
    assert exception["attributes"]["exception.type"] == "ValueError"
    assert "field too long" in exception["attributes"]["exception.message"]
    assert "exception.stacktrace" in exception["attributes"]
    assert bad.links[0]["span_id"] == ids["root"]
    assert bad.links[0]["attributes"] == {"why": "test"}
    assert SpanLink.objects.filter(namespace=ns, span_id=ids["bad"], linked_span_id=ids["root"]).count() == 1

    trace = Trace.objects.get(namespace=ns, trace_id=ids["trace"])
    assert (trace.span_count, trace.error_count, trace.root_span_id) == (122, 1, ids["root"])
    assert trace.root_name == "nightly-export"
    assert trace.services == ["checkout"]
