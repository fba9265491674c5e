"""The Jaeger client's total deadline covers the body: a backend that sends headers and then trickles the body is
reported as slow within the deadline, not waited on byte by byte."""

from __future__ import annotations

import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from traces.jaeger import FOUND, SLOW, fetch_missing_trace
from traces.models import Span
from traces.tests.jaeger_standin import serve

pytestmark = pytest.mark.django_db

KNOWN = "2992f2a5b5d037a8aabffd08ef384237"  # jaeger_api_trace_issue115_follows_from.json


@contextmanager
def trickling_backend() -> Iterator[str]:
    """A loopback server that answers 200 with Content-Length 100000, then sends one byte every 0.5 s."""
    stop = threading.Event()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
                self.wfile.flush()
                while not stop.wait(0.5):
                    self.wfile.write(b" ")
                    self.wfile.flush()
            except OSError:
                pass  # the client hung up

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_backend_trickling_its_body_is_reported_slow_within_the_deadline(ns, settings):
    settings.JAEGER_TIMEOUT_SECONDS = 1.0
    with trickling_backend() as url:
        settings.JAEGER_QUERY_URL = url
        started = time.monotonic()
        result = fetch_missing_trace(ns, KNOWN)
        elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 1.5
    assert result.status == SLOW
    assert "1 s" in result.message
    assert not Span.objects.exists()


def test_a_prompt_backend_still_answers_within_the_deadline(ns, fixtures_dir, settings):
    settings.JAEGER_TIMEOUT_SECONDS = 1.0
    with serve(fixtures_dir) as (url, _standin):
        settings.JAEGER_QUERY_URL = url
        result = fetch_missing_trace(ns, KNOWN)
    assert result.status == FOUND
    assert result.stored == 2
    assert Span.objects.filter(trace_id=KNOWN).count() == 2
