"""A request naming tens of thousands of traces is stored: the writers' locks are bounded, whatever the request, and
still serialise every two writers of one trace (traces/locks.py).

PostgreSQL's lock table is shared by the whole cluster and holds about max_locks_per_transaction (64 by default)
times max_connections entries; one advisory lock per trace id ran out of it from ~13,000 traces in one request, and
every retry got the same 503. These run at the server's default settings, through the console under gunicorn.

The concurrent tests make the overlap certain rather than likely: a transaction of the test's own holds the summary
rows of traces both writers touch (FOR UPDATE), so a writer reaching its summary upsert waits there with every
advisory lock it took still held; the rows are released once both writers wait (or one has answered).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
import requests
from django.conf import settings
from django.db import connection
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests import factories
from tests.peers.gunicorn import test_database_url as database_url
from traces import locks
from traces.models import Span, Trace
from traces.store import store_spans
from traces.tests.builders import otlp_span, parsed, sid, tid

PB = "application/x-protobuf"
T0 = 1_763_800_000_000_000_000


def _needs_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's lock table (SQLite serialises writers and takes no advisory locks)")


def _export(count: int, service: str, seed: int, first_trace: str | None = None) -> bytes:
    """One ExportTraceServiceRequest of `count` single-span traces, every id distinct (the first trace's id may be
    given: a trace that is already stored)."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    attribute = resource_spans.resource.attributes.add()
    attribute.key, attribute.value.string_value = "service.name", service
    spans = resource_spans.scope_spans.add().spans
    for i in range(count):
        span = spans.add()
        span.trace_id = (seed << 64 | i + 1).to_bytes(16, "big")
        span.span_id = (seed << 32 | i + 1).to_bytes(8, "big")
        span.name = "tick"
        span.kind = 1
        span.start_time_unix_nano = T0 + i
        span.end_time_unix_nano = T0 + i + 1000
    if first_trace:
        spans[0].trace_id = bytes.fromhex(first_trace)
    body = request.SerializeToString()
    assert len(body) < settings.OTLP_MAX_BODY_BYTES  # a body the receiver admits
    return body


def _post(url: str, token: str, body: bytes, attempts: int = 3) -> requests.Response:
    """POST as an OTLP exporter does: a 503 is retried after its Retry-After, a bounded number of times (on a
    loaded machine a statement can outlast the statement timeout once). The old per-trace locks failed every
    attempt alike, so the retry hides nothing."""
    headers = {"Content-Type": PB, "Authorization": f"Bearer {token}"}
    for _ in range(attempts - 1):
        response = requests.post(f"{url}/v1/traces", data=body, headers=headers, timeout=120)
        if response.status_code != 503:
            return response
        time.sleep(min(float(response.headers.get("Retry-After", "1")), 5))
    return requests.post(f"{url}/v1/traces", data=body, headers=headers, timeout=120)


@contextmanager
def _summaries_held(namespace_id: int, trace_ids: list[str]) -> Iterator[None]:
    """Hold these traces' summary rows (FOR UPDATE) until the block ends."""
    with psycopg.connect(database_url()) as conn:
        held = conn.execute(
            "SELECT id FROM traces_trace WHERE namespace_id = %s AND trace_id = ANY(%s) FOR UPDATE",
            [namespace_id, trace_ids],
        ).fetchall()
        assert len(held) == len(trace_ids)
        yield
    # leaving psycopg's connection block commits: the rows are released


def _concurrently(*calls) -> list:
    """Run the calls at once, each in its thread; return when both wait on a lock in the database, or one is done."""
    results: list = [None] * len(calls)

    def run(i, call):
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    with psycopg.connect(database_url(), autocommit=True) as watcher:
        deadline = time.monotonic() + 60
        while all(t.is_alive() for t in threads):
            (waiting,) = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            ).fetchone()
            if waiting >= len(calls):
                break
            assert time.monotonic() < deadline, "the writers never met"
            time.sleep(0.02)
    return threads, results


def _advisory_locks(mode: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND mode = %s",
            [mode],
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_a_writer_holds_a_bounded_number_of_locks_however_many_ids_it_names(ns):
    _needs_postgresql()
    locks.lock(ns.pk, [tid() for _ in range(5)], ["run-1"], [])
    assert _advisory_locks("ExclusiveLock") == 6  # a small write: each id...
    assert 1 <= _advisory_locks("ShareLock") <= 6  # ...and its bucket, shared
    locks.lock(ns.pk, [tid() for _ in range(20_000)], [f"run-{i}" for i in range(5_000)], [f"s{i}" for i in range(99)])
    assert _advisory_locks("ExclusiveLock") <= 6 + locks.LOCK_BUCKETS  # a large one: its buckets only


@pytest.mark.django_db(transaction=True)
def test_fifty_thousand_single_span_traces_in_one_request_are_all_stored(live_console):
    _needs_postgresql()
    ns = factories.namespace("firehose")
    response = _post(live_console.url, factories.token(ns, ["ingest"]), _export(50_000, "cron-fleet", seed=1))
    assert response.status_code == 200, response.content[:300]
    assert Span.objects.filter(namespace=ns).count() == 50_000
    assert Trace.objects.filter(namespace=ns, span_count=1, services=["cron-fleet"]).count() == 50_000


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_of_twelve_thousand_traces_are_both_stored(live_console):
    _needs_postgresql()
    ns = factories.namespace("firehose")
    token = factories.token(ns, ["ingest"])
    held = [tid(), tid()]  # one trace of each request, already stored: its summary upsert waits for the test
    store_spans(ns, parsed(("seed", [otlp_span(t, sid()) for t in held])))
    first, second = _export(12_000, "api", 2, first_trace=held[0]), _export(12_000, "worker", 3, first_trace=held[1])
    with _summaries_held(ns.pk, held):
        threads, answers = _concurrently(
            lambda: _post(live_console.url, token, first), lambda: _post(live_console.url, token, second)
        )
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [200, 200], [a.content[:200] for a in answers]
    assert Span.objects.filter(namespace=ns).count() == 24_002
    assert Trace.objects.filter(namespace=ns).count() == 24_000
    assert Trace.objects.filter(namespace=ns, trace_id__in=held, span_count=2).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_large_and_a_small_write_of_one_trace_at_the_same_moment_leave_an_exact_summary(live_console):
    """The large write locks buckets, the small one ids: each must still wait for the other."""
    _needs_postgresql()
    ns = factories.namespace("firehose")
    token = factories.token(ns, ["ingest"])
    shared = tid()
    store_spans(ns, parsed(("seed", [otlp_span(shared, sid())])))
    large = _export(locks.MAX_ID_LOCKS * 4, "api", 4, first_trace=shared)
    small = _export(1, "worker", 5, first_trace=shared)
    with _summaries_held(ns.pk, [shared]):
        threads, answers = _concurrently(
            lambda: _post(live_console.url, token, large), lambda: _post(live_console.url, token, small)
        )
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [200, 200]
    trace = Trace.objects.get(namespace=ns, trace_id=shared)
    assert (trace.span_count, trace.services) == (3, ["api", "seed", "worker"])
