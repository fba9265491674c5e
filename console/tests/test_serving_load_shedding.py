"""Load shedding: past `JOBTRACE_INGEST_CONCURRENCY` requests at once in a worker, a receiver answers 503 with
Retry-After at once, never a 500 and never a 200 that lost data; the shed senders' retries are stored
(console/limits.IngestConcurrencyMiddleware, on the live console of tests/peers/fixtures.serving_console)."""

from __future__ import annotations

import http.client
import secrets
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest
from django.db import connection
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests import factories
from tests.peers.fixtures import SERVING_ENV
from traces.models import Span as StoredSpan

SENDERS = 24
SPANS = 1500  # per request: enough work (~0.1 s) that the senders overlap
pytestmark = pytest.mark.django_db(transaction=True)


def batch(n: int) -> bytes:
    """One ExportTraceServiceRequest of `n` spans in n // 30 traces, as an SDK sends it."""
    traces = [secrets.token_bytes(16) for _ in range(max(1, n // 30))]
    spans = [
        Span(
            trace_id=traces[i % len(traces)],
            span_id=secrets.token_bytes(8),
            name=f"userInfoSave-{i % 7}",
            kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=1_763_800_000_000_000_000 + i,
            end_time_unix_nano=1_763_800_000_002_000_000 + i,
            attributes=[KeyValue(key="http.route", value=AnyValue(string_value=f"/users/{i % 13}"))],
        )
        for i in range(n)
    ]
    resource = KeyValue(key="service.name", value=AnyValue(string_value="ServiceApplication"))
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource={"attributes": [resource]}, scope_spans=[ScopeSpans(spans=spans)])]
    )
    return request.SerializeToString()


def send(client: http.client.HTTPConnection, body: bytes, token: str) -> tuple[int, str | None, bytes]:
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"}
    client.request("POST", "/v1/traces", body=body, headers=headers)
    response = client.getresponse()
    return response.status, response.getheader("Retry-After"), response.read()


def post(base: str, body: bytes, token: str) -> tuple[int, str | None, bytes]:
    address = urlsplit(base)
    client = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        return send(client, body, token)
    finally:
        client.close()


def test_concurrent_senders_past_the_cap_are_shed_with_503_and_retry_after_and_none_is_lost(serving_console):
    if connection.vendor != "postgresql":
        # sqlite3's calls never yield to gevent: a worker's requests store one after another, so the cap is
        # never reached and there is nothing to shed (a timing-dependent pass at best).
        pytest.skip("concurrent requests in one gevent worker need a database driver that yields (PostgreSQL)")
    ns = factories.namespace("payments")
    token = factories.token(ns, ["ingest"])
    bodies = [batch(SPANS) for _ in range(SENDERS)]
    answers: list[tuple[int, str | None, bytes] | None] = [None] * SENDERS
    start = threading.Barrier(SENDERS)

    def send(i: int) -> None:
        start.wait(timeout=30)
        answers[i] = post(serving_console.url, bodies[i], token)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(SENDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    statuses = Counter(a[0] for a in answers if a)
    assert set(statuses) <= {200, 503}, statuses  # never a 500, never a 429 here
    assert statuses[503] > 0, f"nothing was shed with a cap of {SERVING_ENV['JOBTRACE_INGEST_CONCURRENCY']}: {statuses}"
    assert statuses[200] > 0, statuses
    shed = [i for i, a in enumerate(answers) if a and a[0] == 503]
    assert all(answers[i][1] for i in shed), "a 503 without Retry-After"
    # What was acknowledged is stored, what was shed is not (yet).
    assert StoredSpan.objects.filter(namespace=ns).count() == statuses[200] * SPANS

    # The shed senders retry, as an OTLP exporter does, and are stored.
    deadline = time.monotonic() + 60
    while shed and time.monotonic() < deadline:
        shed = [i for i in shed if post(serving_console.url, bodies[i], token)[0] != 200]
    assert not shed
    assert StoredSpan.objects.filter(namespace=ns).count() == SENDERS * SPANS


def test_kept_alive_clients_share_a_bounded_pool_of_database_connections(serving_console):
    """Under gevent Django's connections are per greenlet, one per client connection: the pool per worker
    (JOBTRACE_DB_POOL_SIZE, 8 under make serve) bounds them whatever the number of clients."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL connections")
    ns = factories.namespace("payments")
    token = factories.token(ns, ["ingest"])
    address = urlsplit(serving_console.url)
    clients = [http.client.HTTPConnection(address.hostname, address.port, timeout=30) for _ in range(24)]
    try:
        for client in clients:  # one after another: no shedding, every request reaches the database
            assert send(client, batch(30), token)[0] == 200
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [SERVING_ENV["PGAPPNAME"]]
            )
            held = cursor.fetchone()[0]
    finally:
        for client in clients:
            client.close()
    assert 1 <= held <= 2 * 8, held  # 2 workers x a pool of 8; without the pool, one per kept-alive client (24)
