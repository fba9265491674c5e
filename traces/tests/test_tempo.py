"""Query-through to Grafana Tempo: a trace only Tempo holds opens (v2 API, and the older /api/traces), its base64
ids read as hex; a slow or dead Tempo is said on the page within the deadline; an expired trace is fetched again;
an outsider still gets 404."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime

import pytest

from jobs.models import Namespace
from jobs.retention.prune import run
from traces.models import Span, Trace
from traces.tempo import TempoClient

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_trace_only_tempo_holds_opens_on_the_page_and_is_kept(client, owner, tempo):
    client.force_login(owner)
    response = client.get(f"/traces/{tempo.trace_id}/")
    assert response.status_code == 200
    assert tempo.requests == [f"/api/v2/traces/{tempo.trace_id}"]
    spans = Span.objects.filter(trace_id=tempo.trace_id)
    assert spans.count() == 8
    assert len(set(spans.values_list("service", flat=True))) == 5
    assert all(len(s) == 16 and int(s, 16) >= 0 for s in spans.values_list("span_id", flat=True))
    assert "productpage" in response.content.decode()


def test_an_older_tempo_without_the_v2_api_is_asked_on_api_traces(client, owner, tempo):
    tempo.v2 = False
    client.force_login(owner)
    assert client.get(f"/traces/{tempo.trace_id}/").status_code == 200
    assert tempo.requests == [f"/api/v2/traces/{tempo.trace_id}", f"/api/traces/{tempo.trace_id}"]
    assert Span.objects.filter(trace_id=tempo.trace_id).count() == 8


def test_a_trace_tempo_lacks_is_said_as_tempo_answered(client, owner, tempo):
    client.force_login(owner)
    response = client.get(f"/traces/{'ab' * 16}/")
    assert response.status_code == 404
    assert "Tempo at" in response.content.decode()
    assert "has no trace" in response.content.decode()


def test_a_slow_tempo_is_named_on_the_page_within_seconds(client, owner, tempo, settings):
    settings.TEMPO_TIMEOUT_SECONDS = 0.5
    tempo.delay = 3
    client.force_login(owner)
    started = time.monotonic()
    response = client.get(f"/traces/{tempo.trace_id}/")
    assert time.monotonic() - started < 3
    assert response.status_code == 404
    page = response.content.decode()
    assert "Asked the tracing backend" in page
    assert "Tempo at" in page
    assert not Span.objects.exists()


def test_a_dead_tempo_is_named_on_the_page(client, owner, settings):
    settings.JAEGER_QUERY_URL = ""
    settings.TEMPO_QUERY_URL = f"http://127.0.0.1:{_closed_port()}"
    settings.TEMPO_TIMEOUT_SECONDS = 1.0
    client.force_login(owner)
    response = client.get(f"/traces/{'ab' * 16}/")
    assert response.status_code == 404
    assert "unreachable" in response.content.decode()


def test_an_expired_trace_is_fetched_from_tempo_again(client, owner, tempo):
    client.force_login(owner)
    assert client.get(f"/traces/{tempo.trace_id}/").status_code == 200
    # Its spans (from 2023) are past the 7 days: prune drops them; the summary stays (records kept ten years).
    Namespace.objects.filter(name="payments").update(record_retention_days=3650)
    run(datetime.now(UTC).date())
    assert not Span.objects.exists()
    assert Trace.objects.filter(trace_id=tempo.trace_id).exists()
    tempo.requests.clear()
    response = client.get(f"/traces/{tempo.trace_id}/")
    assert response.status_code == 200
    assert tempo.requests == [f"/api/v2/traces/{tempo.trace_id}"]
    assert Span.objects.filter(trace_id=tempo.trace_id).count() == 8


def test_an_outsider_gets_404_and_tempo_is_not_asked_across_namespaces(client, owner, outsider, tempo):
    client.force_login(owner)
    client.get(f"/traces/{tempo.trace_id}/")
    client.force_login(outsider)
    before = len(tempo.requests)
    response = client.get(f"/traces/{tempo.trace_id}/")
    assert response.status_code == 404
    assert not Span.objects.filter(namespace__name="search-team").exists()
    assert len(tempo.requests) <= before + 2  # asked, but nothing copied into the outsider's namespace


def test_the_client_reads_the_v2_answer_as_otlp_json(tempo_server):
    url, standin = tempo_server
    standin.v2 = True
    doc = TempoClient(url, timeout=2).get_trace(standin.trace_id)
    assert doc is not None
    assert len(doc["resourceSpans"]) == len(standin.doc["batches"])
