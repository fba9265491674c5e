"""Opening a trace the console does not hold asks the configured Jaeger; a dead or slow one is said, quickly."""

from __future__ import annotations

import socket
import time

import pytest

from traces.models import Span
from traces.tests.jaeger_standin import serve

pytestmark = pytest.mark.django_db

KNOWN = "2992f2a5b5d037a8aabffd08ef384237"  # jaeger_api_trace_issue115_follows_from.json


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_trace_only_jaeger_holds_opens_on_the_page_and_is_kept(client, owner, fixtures_dir, settings):
    client.force_login(owner)
    with serve(fixtures_dir) as (url, _):
        settings.JAEGER_QUERY_URL = url
        response = client.get(f"/traces/{KNOWN}/")
    assert response.status_code == 200
    assert Span.objects.filter(trace_id=KNOWN).count() == 2


def test_a_dead_jaeger_is_named_on_the_page_within_seconds(client, owner, settings):
    client.force_login(owner)
    settings.JAEGER_QUERY_URL = f"http://127.0.0.1:{_closed_port()}"
    settings.JAEGER_TIMEOUT_SECONDS = 1.0
    started = time.monotonic()
    response = client.get(f"/traces/{'ab' * 16}/")
    assert time.monotonic() - started < 5
    assert response.status_code == 404
    assert "unreachable" in response.content.decode()


def test_a_slow_jaeger_is_named_on_the_page_within_seconds(client, owner, fixtures_dir, settings):
    client.force_login(owner)
    settings.JAEGER_TIMEOUT_SECONDS = 0.5
    with serve(fixtures_dir, delay=3) as (url, _):
        settings.JAEGER_QUERY_URL = url
        started = time.monotonic()
        response = client.get(f"/traces/{KNOWN}/")
        elapsed = time.monotonic() - started
    assert elapsed < 3
    assert response.status_code == 404
    assert "Asked the tracing backend" in response.content.decode()
    assert not Span.objects.exists()


def test_without_a_backend_an_unknown_trace_is_a_plain_404(client, owner, settings):
    client.force_login(owner)
    settings.JAEGER_QUERY_URL = ""
    response = client.get(f"/traces/{'cd' * 16}/")
    assert response.status_code == 404
    assert "Asked the tracing backend" not in response.content.decode()
