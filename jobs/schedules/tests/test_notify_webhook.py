"""The generic webhook: a real HTTP server on loopback receives the documented JSON body; an open notice is re-sent
after the resend interval and not before, a refused delivery is retried (nothing marked sent), and the resolution
is sent once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from jobs.schedules.monitor import run_check
from jobs.schedules.notify import send_due
from jobs.schedules.store import sync_state
from tests import factories

T0 = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)


class Hook:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200


@pytest.fixture
def hook(settings) -> Iterator[Hook]:
    state = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            state.bodies.append(json.loads(self.rfile.read(length)))
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.JOBTRACE_SCHEDULE_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hook"
    settings.JOBTRACE_ALERTMANAGER_URL = ""
    settings.JOBTRACE_PUBLIC_URL = "https://jobtrace.example.com"
    settings.JOBTRACE_MONITOR_RESEND_SECONDS = 60
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.django_db
def test_the_webhook_gets_the_documented_body_resent_while_open_and_resolved_once(hook, ns):
    job = factories.job(ns, "nightly", schedule="0 12 * * *", grace_seconds=60)
    sync_state(job, T0 - timedelta(hours=1), reset=True)
    good = factories.execution(
        job, "run-41", status="succeeded", started_at=T0 - timedelta(days=1), trace_id=factories.trace_id()
    )
    now = T0 + timedelta(minutes=2)
    run_check(now)
    hook.status = 503
    assert send_due(now) == 0  # refused: retried at the next check
    hook.status = 200
    assert send_due(now) == 1
    (notice,) = hook.bodies[-1]["notices"]
    assert hook.bodies[-1]["version"] == 1
    assert notice == {
        "kind": "missed",
        "status": "firing",
        "namespace": "payments",
        "job": "nightly",
        "execution_id": "missed-20260101T120000Z",
        "tick": "2026-01-01T12:00:00Z",
        "opened_at": notice["opened_at"],
        "resolved_at": None,
        "url": "https://jobtrace.example.com/jobs/payments/nightly/runs/missed-20260101T120000Z/",
        "job_url": "https://jobtrace.example.com/jobs/payments/nightly/",
        "last_success": {
            "execution_id": "run-41",
            "started_at": "2025-12-31T12:00:30Z",
            "url": "https://jobtrace.example.com/jobs/payments/nightly/runs/run-41/",
            "trace_url": f"https://jobtrace.example.com/traces/{good.trace_id}/",
        },
    }
    assert send_due(now + timedelta(seconds=30)) == 0  # within the resend interval
    assert send_due(now + timedelta(seconds=61)) == 1  # still open: re-sent
    factories.execution(job, "run-42", status="succeeded", started_at=now + timedelta(minutes=5))
    run_check(now + timedelta(minutes=6))
    assert send_due(now + timedelta(minutes=6)) == 1
    assert hook.bodies[-1]["notices"][0]["status"] == "resolved"
    assert send_due(now + timedelta(minutes=20)) == 0  # resolved and said: never again
