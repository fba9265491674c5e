"""Session fixtures for the real peers: each starts once per run, on loopback, and stops at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.peers.alertmanager import Alertmanager, serve_alertmanager
from tests.peers.balanced import BalancedConsole, serve_balanced_console, shared_database_problem
from tests.peers.celery_worker import CeleryWorker, serve_celery_worker
from tests.peers.gunicorn import LiveConsole, serve_gunicorn

VAR = Path(__file__).resolve().parents[2] / "var"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """On SQLite the test database is a file, so that a server in another process (gunicorn) shares it."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        VAR.mkdir(exist_ok=True)
        db.setdefault("TEST", {})["NAME"] = str(VAR / "test-jobtrace.sqlite3")


@pytest.fixture(scope="session")
def live_console(django_db_setup: None, django_db_blocker: Any) -> Iterator[LiveConsole]:
    """The console under gunicorn (as `make serve` runs it) on the test database, one start per run.

    Tests that use it need `django_db(transaction=True)`: the server's workers see only committed rows.
    """
    with django_db_blocker.unblock(), serve_gunicorn() as live:
        yield live


@pytest.fixture(scope="session")
def alertmanager() -> Iterator[Alertmanager]:
    """Debian's Alertmanager on loopback, one start per run; a test adds its own receiver with `route(...)`.

    It needs no console: each route names the URL its webhook posts to (see tests/peers/alertmanager.py).
    """
    with serve_alertmanager() as manager:
        yield manager


@pytest.fixture(scope="session")
def balanced_console(django_db_setup: None, django_db_blocker: Any) -> Iterator[BalancedConsole]:
    """Debian's nginx balancing over two gunicorn consoles on the test database, one start per run.

    Clients use `.url` (nginx); `.instances` are the consoles behind it. Tests need `django_db(transaction=True)`.
    """
    problem = shared_database_problem()
    if problem:
        pytest.skip(problem)
    with django_db_blocker.unblock(), serve_balanced_console(instances=2) as balanced:
        yield balanced


# What console/tests/test_serving_*.py check against: a short read deadline and a small ingest cap, so that trickling
# clients are cut and concurrent senders shed within a test's time.
SERVING_ENV = {
    "JOBTRACE_REQUEST_READ_TIMEOUT_SECONDS": "4",
    "JOBTRACE_INGEST_CONCURRENCY": "2",
    "PGAPPNAME": "jobtrace-serving-console",  # its PostgreSQL connections, told apart in pg_stat_activity
}


@pytest.fixture(scope="session")
def serving_console(django_db_setup: None, django_db_blocker: Any) -> Iterator[LiveConsole]:
    """The console under gunicorn with `make serve`'s configuration (gevent workers), the read deadline at 4 s and
    the ingest cap at 2 requests per worker (SERVING_ENV); one start per run."""
    with django_db_blocker.unblock(), serve_gunicorn(SERVING_ENV) as live:
        yield live


@pytest.fixture(scope="session")
def celery_worker(live_console: LiveConsole) -> Iterator[CeleryWorker]:
    """A Celery worker process (prefork) on RabbitMQ and Redis, instrumented with jobtrace_sdk.celery and
    opentelemetry-instrumentation-celery, reporting to the live console; one start per run, on a queue of its own.

    A test calls `celery_worker.grant(ns)` so the worker's token exists in its database (django_db(transaction=True)).
    """
    with serve_celery_worker(live_console.url, opentelemetry=True) as worker:
        yield worker
