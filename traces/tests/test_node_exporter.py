"""npm's OpenTelemetry Node.js SDK exports to the console served by gunicorn, through both of its OTLP/HTTP
exporters, plain and gzip. They send `Transfer-Encoding: chunked` with no Content-Length: every span must be
stored, and the exporter told "ok" only then."""

from __future__ import annotations

import pytest

from tests import factories
from tests.peers.node import run_node
from traces.models import Span, Trace

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("compression", ["none", "gzip"])
@pytest.mark.parametrize("exporter", ["proto", "json"])
def test_the_node_exporters_chunked_bodies_are_stored_whole(live_console, exporter, compression):
    ns = factories.namespace("payments")
    token = factories.token(ns, ["ingest"])
    report = run_node(
        "export_spans.mjs",
        f"--url={live_console.url}/v1/traces",
        f"--token={token}",
        f"--format={exporter}",
        f"--compression={compression}",
        "--traces=8",
        "--spans-per-trace=4",
        "--service=node-migrator",
    )
    assert report["result"] == "ok", report
    assert report["spans"] == 32
    assert Span.objects.filter(namespace=ns).count() == 32
    stored = Trace.objects.filter(namespace=ns)
    assert set(stored.values_list("trace_id", flat=True)) == set(report["trace_ids"])
    assert set(Span.objects.filter(namespace=ns).values_list("service", flat=True)) == {"node-migrator"}
    failing = stored.get(trace_id=report["trace_ids"][0])
    assert failing.span_count == 4
    assert failing.error_count == 1


def test_a_node_exporter_refused_by_the_console_reports_the_failure(live_console):
    report = run_node(
        "export_spans.mjs", f"--url={live_console.url}/v1/traces", "--token=not-a-token", "--format=proto"
    )
    assert report["result"] == "error"
    assert Span.objects.count() == 0
