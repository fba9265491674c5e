"""A frozen database (every process of a throwaway PostgreSQL cluster SIGSTOPped) gives 503 + Retry-After within
seconds, on kept-alive and new connections alike, instead of a 30 s hang and a dropped connection; after SIGCONT
the console answers again by itself (console/db/base.py's deadline; connect/statement timeouts from console/env.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import requests
from django.db import connection as test_connection
from django.db.utils import ConnectionHandler, OperationalError

from console.env import database_from_url
from tests.peers.gunicorn import ROOT, serve_gunicorn
from tests.peers.postgres import Cluster, create_database, throwaway_cluster

CHECKOUT_PB = "otlp_protobuf/otlp_checkout_6spans_5services_error_status.ExportTraceServiceRequest.pb"
STATEMENT_TIMEOUT = 2.0  # seconds; the client-side deadline is one more
pytestmark = pytest.mark.slow


@dataclass
class Answer:
    what: str
    status: int | None = None
    retry_after: str | None = None
    seconds: float = 0.0
    error: str = ""


def _manage(url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=60
    )
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


@pytest.fixture(scope="module")
def frozen_setup(django_db_blocker) -> Iterator[tuple[Cluster, str, str, str]]:
    """A cluster of its own, migrated, with one ingest token, and a console (gunicorn, make serve's config) on it."""
    if test_connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's timeouts: runs in the PostgreSQL pass of the suite")
    with throwaway_cluster() as cluster:
        url = create_database(cluster, "jobtrace_frozen")
        _manage(url, "migrate", "--noinput", "-v", "0")
        _manage(url, "create_namespace", "payments")
        token = _manage(url, "create_token", "payments", "--scopes", "ingest")
        env = {"DATABASE_URL": url, "JOBTRACE_DB_STATEMENT_TIMEOUT_SECONDS": str(STATEMENT_TIMEOUT)}
        with django_db_blocker.unblock(), serve_gunicorn(env) as live:
            yield cluster, url, token, live.url


def _ask(answer: Answer, send) -> None:
    started = time.monotonic()
    try:
        response = send()
        answer.status, answer.retry_after = response.status_code, response.headers.get("Retry-After")
    except requests.RequestException as exc:
        answer.error = f"{type(exc).__name__}: {exc}"
    answer.seconds = time.monotonic() - started


def test_a_frozen_database_is_a_503_with_retry_after_within_seconds_and_the_console_recovers(
    frozen_setup, fixtures_dir: Path, django_db_blocker
):
    cluster, url, token, base = frozen_setup
    body = (fixtures_dir / CHECKOUT_PB).read_bytes()
    otlp = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-protobuf"}
    kept = [requests.Session() for _ in range(4)]
    for session in kept:  # keep-alive connections whose workers hold open database connections
        assert session.get(f"{base}/healthz", timeout=10).status_code == 200
        assert session.post(f"{base}/v1/traces", data=body, headers=otlp, timeout=10).status_code == 200

    # A connection of this process too, open before the freeze: a query on it must fail, not wait.
    settings_dict = database_from_url(url, statement_timeout=STATEMENT_TIMEOUT)
    direct = ConnectionHandler({"default": settings_dict})["default"]
    direct.inc_thread_sharing()  # opened here, queried from the thread below
    with django_db_blocker.unblock(), direct.cursor() as cursor:
        cursor.execute("SELECT 1")

    answers = [
        Answer("healthz, kept-alive"),
        Answer("otlp, kept-alive"),
        Answer("healthz, new connection"),
        Answer("otlp, new connection"),
    ]
    sends = [
        lambda: kept[0].get(f"{base}/healthz", timeout=20),
        lambda: kept[1].post(f"{base}/v1/traces", data=body, headers=otlp, timeout=20),
        lambda: requests.get(f"{base}/healthz", timeout=20, headers={"Connection": "close"}),
        lambda: requests.post(f"{base}/v1/traces", data=body, headers={**otlp, "Connection": "close"}, timeout=20),
    ]
    direct_error: list[BaseException] = []
    direct_seconds: list[float] = []

    def query_direct() -> None:
        started = time.monotonic()
        with django_db_blocker.unblock():
            try:
                with direct.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM pg_class")
            except OperationalError as exc:
                direct_error.append(exc)
        direct_seconds.append(time.monotonic() - started)

    cluster.signal_all(signal.SIGSTOP)
    try:
        threads = [threading.Thread(target=_ask, args=(a, s), daemon=True) for a, s in zip(answers, sends, strict=True)]
        threads.append(threading.Thread(target=query_direct, daemon=True))
        for t in threads:
            t.start()
        for t in threads:  # bounded even when nothing answers (then SIGCONT below frees whatever still waits)
            t.join(timeout=25)
    finally:
        cluster.signal_all(signal.SIGCONT)
    for t in threads:
        t.join(timeout=10)
    with django_db_blocker.unblock():
        direct.close()
    direct.dec_thread_sharing()

    report = [(a.what, a.status, a.retry_after, round(a.seconds, 1), a.error) for a in answers]
    for a in answers:
        assert a.status == 503, report
        assert a.retry_after, report
        assert a.seconds < 10, report  # deadline 3 s (+ a 3 s reconnect attempt), against ~30 s and no answer
    assert direct_error, direct_seconds
    assert "did not answer" in str(direct_error[0]), direct_error
    assert direct_seconds[0] < STATEMENT_TIMEOUT + 3, direct_seconds

    # SIGCONT: the console answers again on its own, on the same kept-alive connections.
    deadline = time.monotonic() + 20
    while kept[0].get(f"{base}/healthz", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the console did not recover within 20 s of SIGCONT"
        time.sleep(0.2)
    resent = kept[1].post(f"{base}/v1/traces", data=body, headers=otlp, timeout=10)
    assert resent.status_code == 200
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM traces_span").fetchone() == (6,)  # one trace, never doubled
