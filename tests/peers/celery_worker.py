"""A real Celery worker process (prefork pool) on RabbitMQ and Redis, reporting to a console: one start per run.

The worker's app is tests/peers/celery_tasks.py, on a queue of this run only (see `make_app`). It reports with a
token made once per run; each test makes that token exist in its (transactional, flushed) database with
`CeleryWorker.grant(namespace)`. `.ci/run` starts RabbitMQ and Redis when they are down.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.peers.process import log_tail, spawn, stop

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var"
BROKER = ("127.0.0.1", 5672)
RESULTS = ("127.0.0.1", 6379)


@dataclass(frozen=True)
class CeleryWorker:
    app: Any  # the same Celery app as the worker's, for publishing from the test process
    queue: str
    node: str
    token: str  # the raw ingest+read token the worker reports with
    namespace: str
    pid: int
    log: Path

    def grant(self, namespace: Any) -> None:
        """Make the worker's token valid in `namespace` (a Namespace row of the current test's database)."""
        from jobs.models import ApiToken

        ApiToken.objects.get_or_create(
            digest=ApiToken.digest_of(self.token),
            defaults={"namespace": namespace, "hint": self.token[:10], "scopes": ["ingest", "read"]},
        )


def require_services() -> None:
    """RabbitMQ and Redis on loopback; missing ones fail in CI (.ci/run starts them) and skip elsewhere."""
    down = []
    for name, address in (("RabbitMQ", BROKER), ("Redis", RESULTS)):
        try:
            socket.create_connection(address, timeout=1).close()
        except OSError:
            down.append(f"{name} at {address[0]}:{address[1]}")
    if down:
        message = f"{' and '.join(down)} not reachable (.ci/run starts them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def worker_command(node: str, concurrency: int = 2) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tests.peers.celery_tasks",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        str(concurrency),
        "--hostname",
        node,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "WARNING",
    ]


@contextmanager
def serve_celery_worker(
    console_url: str,
    *,
    namespace: str = "payments",
    instrument: bool = True,
    opentelemetry: bool = False,
    concurrency: int = 2,
    token: str | None = None,
    queue: str | None = None,
) -> Iterator[CeleryWorker]:
    """Start the worker, wait until it answers a ping on its own node, stop it (warm shutdown) at the end.

    token: the one it reports with (default: a new one, which a test grants with `CeleryWorker.grant`).
    queue: the queue to consume (default: a new one); tasks may be published to it before the worker starts."""
    require_services()
    from tests.peers.celery_tasks import make_app

    run = uuid.uuid4().hex[:12]
    queue = queue or f"jobtrace-test-{run}"
    node = f"{queue}@{socket.gethostname()}"
    token = token or "jt_celery_" + secrets.token_urlsafe(24)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBTRACE_", "OTEL_", "DJANGO_"))}
    env.update(
        {
            "JOBTRACE_CELERY_WORKER": "1",
            "JOBTRACE_CELERY_QUEUE": queue,
            "JOBTRACE_CELERY_INSTRUMENT": "1" if instrument else "0",
            "JOBTRACE_CELERY_OTEL": "1" if opentelemetry else "0",
            "JOBTRACE_URL": console_url,
            "JOBTRACE_TOKEN": token,
            "JOBTRACE_NAMESPACE": namespace,
            "OTEL_SERVICE_NAME": "settlement-worker",
            # On SQLite the console takes one writer and answers the others 503 + Retry-After (5 s): exports get
            # time for a retry or two instead of dropping spans after the first.
            "JOBTRACE_EXPORT_TIMEOUT": "15",
        }
    )
    VAR.mkdir(exist_ok=True)
    log = VAR / f"celery-worker-{run}.log"
    app = make_app(queue)
    log.unlink(missing_ok=True)
    process = spawn(worker_command(node, concurrency), log, env=env, cwd=ROOT)  # dies with the test run
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[node], timeout=0.5):
            if process.poll() is not None:
                raise RuntimeError(f"the Celery worker exited with {process.returncode}: {log_tail(log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not answer a ping within 60 s: {log_tail(log)}")
        yield CeleryWorker(app, queue, node, token, namespace, process.pid, log)
    finally:
        stop(process, timeout=20)  # SIGTERM is a warm shutdown: running tasks finish, the pool flushes its records
        if process.returncode == 0:
            log.unlink(missing_ok=True)  # kept when the worker did not stop cleanly
