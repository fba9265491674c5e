"""Several receivers behind Debian's nginx (`balanced_console`: two gunicorn consoles on one database).

Real OpenTelemetry exporters, Python's and Node's, send through the balancer: several at once, with the same
trace ids from every sender and whole batches sent twice at once (a retry racing its original, on the other
instance). Every span is stored exactly once, every trace summary is exact, and both instances did the work.
(With the writer's per-trace lock, traces.locks.lock, taken out, the concurrent test failed 4 runs of 5: the
summaries kept one writer's spans.)
"""

from __future__ import annotations

import http.client
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from tests import factories
from tests.peers.node import run_node
from tests.peers.process import wait_until
from traces.models import Span, Trace, TraceService

pytestmark = pytest.mark.django_db(transaction=True)

SENDERS = 4
TRACES = 12
CHILDREN = 10  # per sender and trace


@dataclass
class Recording(SpanExporter):
    """Exports each batch through real OTLP exporters: with two, both send it at the same moment (a retry racing
    the original whose answer was late), likely to different instances."""

    exporters: list[OTLPSpanExporter]
    results: list[SpanExportResult] = field(default_factory=list)
    exported: set[tuple[str, str]] = field(default_factory=set)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            self.exported.add((format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")))
        with ThreadPoolExecutor(len(self.exporters)) as pool:
            results = list(pool.map(lambda exporter: exporter.export(spans), self.exporters))
        self.results += results
        return SpanExportResult.SUCCESS if all(r is SpanExportResult.SUCCESS for r in results) else results[0]

    def shutdown(self) -> None:
        for exporter in self.exporters:
            exporter.shutdown()


def _exporter(url: str, token: str, timeout: float = 20) -> OTLPSpanExporter:
    return OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers={"authorization": f"Bearer {token}"}, timeout=timeout)


def _provider(url: str, token: str, service: str, sends: int = 1, **kwargs: Any) -> tuple[TracerProvider, Recording]:
    recording = Recording([_exporter(url, token) for _ in range(sends)])
    provider = TracerProvider(resource=Resource.create({"service.name": service}), **kwargs)
    provider.add_span_processor(BatchSpanProcessor(recording, max_export_batch_size=64, schedule_delay_millis=5000))
    return provider, recording


def _is_error(trace_index: int, sender: int, child: int) -> bool:
    return child == 0 and (trace_index + sender) % 3 == 0


class PresetRootIds(IdGenerator):
    """The scheduler's root spans take the trace and span ids every sender already parents its spans on."""

    def __init__(self, roots: Sequence[SpanContext]) -> None:
        self._trace_ids = iter([r.trace_id for r in roots])
        self._span_ids = iter([r.span_id for r in roots])

    def generate_trace_id(self) -> int:
        return next(self._trace_ids)

    def generate_span_id(self) -> int:
        return next(self._span_ids)


def _in_rounds(rounds: threading.Barrier, send: Callable[..., None], *args: Any) -> None:
    try:
        send(*args, rounds)
    except BaseException:
        rounds.abort()  # the other senders stop waiting for this one
        raise


def _send_roots(provider: TracerProvider, roots: Sequence[SpanContext], rounds: threading.Barrier) -> None:
    tracer = provider.get_tracer("jobtrace.tests.balanced")
    for t in range(len(roots)):
        rounds.wait(timeout=30)
        with tracer.start_as_current_span(f"nightly-export run {t}"):
            pass
        provider.force_flush(30_000)


def _send_children(provider: TracerProvider, sender: int, roots: Sequence[SpanContext], rounds: threading.Barrier):
    tracer = provider.get_tracer("jobtrace.tests.balanced")
    for t, root in enumerate(roots):
        parent = otel_trace.set_span_in_context(NonRecordingSpan(root))
        rounds.wait(timeout=30)
        for child in range(CHILDREN):
            with tracer.start_as_current_span(f"shard {t}/{child}", context=parent) as span:
                span.set_attribute("sender", sender)
                if _is_error(t, sender, child):
                    span.set_status(Status(StatusCode.ERROR, "field too long"))
        provider.force_flush(30_000)


def test_the_balancer_sends_requests_to_every_instance(balanced_console):
    upstreams = Counter(
        requests.get(f"{balanced_console.url}/healthz", timeout=10).headers["X-Upstream"] for _ in range(6)
    )
    assert set(upstreams) == set(balanced_console.balancer.upstreams)
    assert len(balanced_console.balancer.upstreams) == 2


def test_concurrent_sdk_exporters_through_nginx_store_every_span_exactly_once(balanced_console):
    ns = factories.namespace("payments")
    token = factories.token(ns, ["ingest"])
    url = balanced_console.url
    log_offset = balanced_console.balancer.log_offset()
    seen_before = [balanced_console.requests_seen(i, "/v1/traces") for i in range(2)]

    # One trace per round: the scheduler sends its root and every sender its children of it at the same moment
    # (a barrier, then each flushes its batch), so each trace is new to several instances' workers at once.
    sampled = TraceFlags(TraceFlags.SAMPLED)
    roots = [
        SpanContext(secrets.randbits(128), secrets.randbits(64), is_remote=True, trace_flags=sampled)
        for _ in range(TRACES)
    ]
    root_provider, root_recording = _provider(url, token, "scheduler", id_generator=PresetRootIds(roots))
    senders = [_provider(url, token, f"worker-{s}", sends=2 if s % 2 == 0 else 1) for s in range(SENDERS)]
    rounds = threading.Barrier(SENDERS + 1)
    with ThreadPoolExecutor(SENDERS + 1) as pool:
        futures = [pool.submit(_in_rounds, rounds, _send_roots, root_provider, roots)]
        futures += [
            pool.submit(_in_rounds, rounds, _send_children, provider, s, roots)
            for s, (provider, _) in enumerate(senders)
        ]
        for future in futures:
            future.result(timeout=60)  # a sender's exception fails the test here
    for provider in [root_provider, *(p for p, _ in senders)]:
        provider.shutdown()
    recordings = [root_recording, *(r for _, r in senders)]

    assert all(result is SpanExportResult.SUCCESS for r in recordings for result in r.results)
    expected = set().union(*(r.exported for r in recordings))
    assert len(expected) == TRACES * (1 + SENDERS * CHILDREN)

    stored = list(Span.objects.filter(namespace=ns).values_list("trace_id", "span_id"))
    assert len(stored) == len(expected)  # nothing twice
    assert set(stored) == expected  # nothing lost
    services = ["scheduler", *(f"worker-{s}" for s in range(SENDERS))]
    for t, root in enumerate(roots):
        summary = Trace.objects.get(namespace=ns, trace_id=format(root.trace_id, "032x"))
        errors = sum(_is_error(t, s, c) for s in range(SENDERS) for c in range(CHILDREN))
        assert (summary.span_count, summary.error_count) == (1 + SENDERS * CHILDREN, errors), t
        assert summary.root_span_id == format(root.span_id, "016x")
        assert summary.services == sorted(services)
        per_service = dict(TraceService.objects.filter(trace=summary).values_list("service", "span_count"))
        assert per_service == {"scheduler": 1, **{f"worker-{s}": CHILDREN for s in range(SENDERS)}}

    # Every export was answered 200 once, by one instance or the other, and both instances answered some. (A 503
    # with Retry-After, overload, is allowed: the exporter sent that batch again, and the stored spans say it
    # was neither lost nor doubled.)
    sent = sum(len(r.results) for r in recordings)
    by_upstream = balanced_console.balancer.requests_by_upstream(log_offset, uri="/v1/traces")
    assert {status for _, status in by_upstream} <= {"200", "503"}, by_upstream
    assert sum(n for (_, status), n in by_upstream.items() if status == "200") == sent
    assert {addr for (addr, status) in by_upstream if status == "200"} == set(balanced_console.balancer.upstreams)
    answered = [balanced_console.requests_seen(i, "/v1/traces") - seen_before[i] for i in range(2)]
    assert sum(answered) == sent
    assert min(answered) > 0, answered


def test_an_export_larger_than_nginx_s_memory_buffer_is_passed_on_whole(balanced_console):
    """Over client_body_buffer_size (1 MiB) nginx buffers the body in its temp dir before passing it on."""
    ns = factories.namespace("payments")
    token = factories.token(ns, ["ingest"])
    recording = Recording([_exporter(balanced_console.url, token, timeout=30)])
    provider = TracerProvider(resource=Resource.create({"service.name": "bulk-import"}))
    provider.add_span_processor(BatchSpanProcessor(recording, max_export_batch_size=512, schedule_delay_millis=5000))
    tracer = provider.get_tracer("jobtrace.tests.balanced")
    payload = secrets.token_hex(4096)  # 8 KiB of attribute per span: 200 spans are about 1.7 MB of protobuf
    with tracer.start_as_current_span("import") as root:
        for i in range(199):
            with tracer.start_as_current_span(f"row {i}") as span:
                span.set_attribute("row", payload)
    provider.force_flush(30_000)
    provider.shutdown()

    assert recording.results == [SpanExportResult.SUCCESS]  # one export, one body
    trace_id = format(root.get_span_context().trace_id, "032x")
    assert Trace.objects.get(namespace=ns, trace_id=trace_id).span_count == 200
    assert Span.objects.filter(namespace=ns, name="row 7").get().attributes["row"] == payload


def test_a_body_over_the_console_s_limit_is_refused_by_nginx_before_any_upstream(balanced_console):
    token = factories.token(factories.namespace("payments"), ["ingest"])
    offset = balanced_console.balancer.log_offset()
    parts = urlsplit(balanced_console.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest("POST", "/v1/traces")
        conn.putheader("Authorization", f"Bearer {token}")
        conn.putheader("Content-Type", "application/x-protobuf")
        conn.putheader("Content-Length", str(20 * 1024 * 1024 + 1))  # the console's OTLP limit is 20 MiB
        conn.endheaders()  # nginx answers from the headers alone: the body is never sent
        status = conn.getresponse().status
    finally:
        conn.close()
    assert status == 413
    logged = wait_until(
        lambda: balanced_console.balancer.requests_by_upstream(offset, uri="/v1/traces"),
        timeout=10,
        what="nginx to log the refused request",  # once the connection has closed
    )
    assert logged == Counter({("-", "-"): 1})  # no upstream
    assert Span.objects.count() == 0


@pytest.mark.parametrize(("exporter", "compression"), [("proto", "none"), ("json", "gzip")])
def test_node_exporters_chunked_bodies_pass_through_nginx_whole(balanced_console, exporter, compression):
    ns = factories.namespace("payments")
    token = factories.token(ns, ["ingest"])
    offset = balanced_console.balancer.log_offset()
    report = run_node(
        "export_spans.mjs",
        f"--url={balanced_console.url}/v1/traces",
        f"--token={token}",
        f"--format={exporter}",
        f"--compression={compression}",
        "--traces=12",
        "--spans-per-trace=4",
        "--batch-size=8",
        "--service=node-migrator",
    )
    assert report["result"] == "ok", report
    assert Span.objects.filter(namespace=ns).count() == report["spans"] == 48
    summaries = Trace.objects.filter(namespace=ns)
    assert set(summaries.values_list("trace_id", flat=True)) == set(report["trace_ids"])
    assert summaries.get(trace_id=report["trace_ids"][0]).error_count == 1
    assert sum(summaries.values_list("span_count", flat=True)) == 48
    by_upstream = balanced_console.balancer.requests_by_upstream(offset, uri="/v1/traces")
    assert {status for _, status in by_upstream} <= {"200", "503"}, by_upstream
    assert sum(n for (_, status), n in by_upstream.items() if status == "200") == report["exports"]
