"""Slow clients cannot hold the server: eight clients trickling request bodies at ~1 byte/s (four with a
Content-Length, four chunked) while /healthz and a real OpenTelemetry SDK export are answered; the tricklers are
then cut at the read deadline with a 408 (console/bodies.py, `make serve`'s gevent workers)."""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests import factories
from tests.peers.fixtures import SERVING_ENV
from traces.models import Span

DEADLINE = float(SERVING_ENV["JOBTRACE_REQUEST_READ_TIMEOUT_SECONDS"])
pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Trickler:
    sock: socket.socket
    chunked: bool
    started: float
    answered_at: float | None = None
    answer: bytes = b""
    sent: int = 0
    errors: list[str] = field(default_factory=list)

    def status(self) -> int | None:
        line = self.answer.split(b"\r\n", 1)[0].split()
        return int(line[1]) if len(line) > 1 and line[1].isdigit() else None


def open_trickler(base: str, token: str, chunked: bool) -> Trickler:
    address = urlsplit(base)
    sock = socket.create_connection((address.hostname, address.port), timeout=5)
    framing = "Transfer-Encoding: chunked" if chunked else "Content-Length: 4096"
    head = (
        f"POST /v1/traces HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: application/x-protobuf\r\n"
        f"Authorization: Bearer {token}\r\n{framing}\r\n\r\n"
    )
    sock.sendall(head.encode())
    sock.setblocking(False)
    return Trickler(sock, chunked, time.monotonic())


def drip(tricklers: list[Trickler]) -> None:
    """One byte of body for every trickler not answered yet; collect what the server says."""
    for t in tricklers:
        if t.answered_at is not None:
            continue
        readable, _, _ = select.select([t.sock], [], [], 0)
        if readable:
            try:
                data = t.sock.recv(4096)
            except OSError as exc:
                data = b""
                t.errors.append(repr(exc))
            t.answer += data
            t.answered_at = time.monotonic()
            continue
        try:
            t.sock.send(b"1\r\n\x0a\r\n" if t.chunked else b"\x0a")
            t.sent += 1
        except OSError as exc:  # the server shut the connection
            t.errors.append(repr(exc))
            t.answered_at = time.monotonic()


def one_span() -> list:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "while-trickled"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("slow-clients").start_as_current_span("userInfoSave"):
        pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def test_eight_trickling_clients_hold_neither_healthz_nor_an_otlp_export_and_are_cut_at_the_deadline(
    serving_console,
):
    ns = factories.namespace("payments")
    token = factories.token(ns, ["ingest"])
    tricklers = [open_trickler(serving_console.url, token, chunked=i % 2 == 1) for i in range(8)]
    try:
        for _ in range(2):  # two seconds of trickling: every body has started arriving
            drip(tricklers)
            time.sleep(1)
        drip(tricklers)
        assert all(t.answered_at is None for t in tricklers), [(t.status(), t.errors) for t in tricklers]

        started = time.monotonic()
        health = requests.get(f"{serving_console.url}/healthz", timeout=10)
        health_seconds = time.monotonic() - started

        exporter = OTLPSpanExporter(
            endpoint=f"{serving_console.url}/v1/traces", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        started = time.monotonic()
        exported = exporter.export(one_span())
        export_seconds = time.monotonic() - started
        exporter.shutdown()

        drip(tricklers)
        still_connected = sum(t.answered_at is None for t in tricklers)

        while any(t.answered_at is None for t in tricklers) and time.monotonic() - tricklers[0].started < 15:
            time.sleep(0.5)
            drip(tricklers)
    finally:
        for t in tricklers:
            t.sock.close()

    assert health.status_code == 200
    assert exported is SpanExportResult.SUCCESS
    # Generous bounds (under sync workers both took until gunicorn killed the workers, ~30 s): the point is that
    # they were answered while all eight tricklers were connected.
    assert health_seconds < 3, health_seconds
    assert export_seconds < 3, export_seconds
    assert still_connected == 8
    assert Span.objects.filter(namespace=ns, service="while-trickled").count() == 1

    # Then each trickler is answered 408 at the read deadline (counted from its headers), and nothing is stored.
    for t in tricklers:
        assert t.status() == 408, (t.chunked, t.answer[:200], t.errors)
        waited = t.answered_at - t.started
        assert DEADLINE - 0.5 <= waited <= DEADLINE + 4, waited
    assert Span.objects.filter(namespace=ns).count() == 1
