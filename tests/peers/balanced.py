"""Several console instances under gunicorn behind one nginx: the stateless web tier scaled out, on loopback."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

from tests.peers.gunicorn import LiveConsole, serve_gunicorn
from tests.peers.nginx import NGINX, Balancer, serve_nginx
from tests.peers.process import require_binary


@dataclass(frozen=True)
class BalancedConsole:
    url: str  # nginx's: what clients use
    balancer: Balancer
    instances: tuple[LiveConsole, ...]
    access_logs: tuple[Path, ...]  # gunicorn's access log of each instance, in the order of `instances`

    def requests_seen(self, instance: int, path: str, status: int = 200) -> int:
        """Requests for `path` that instance `instance` itself logged answering with `status`."""
        log = self.access_logs[instance]
        if not log.exists():
            return 0
        # gunicorn's default access log format: ... "POST /v1/traces HTTP/1.1" 200 2 "-" "agent"
        needle = re.compile(rf'"[A-Z]+ {re.escape(path)}(?:\?\S*)? HTTP/[0-9.]+" {status} ')
        return sum(bool(needle.search(line)) for line in log.read_text(errors="replace").splitlines())


def shared_database_problem() -> str | None:
    """Why the test database cannot take several console instances' concurrent writes, if it cannot."""
    db = connection.settings_dict
    if not db["ENGINE"].endswith("sqlite3"):
        return None
    if str(db.get("OPTIONS", {}).get("transaction_mode", "")).upper() == "IMMEDIATE":
        return None
    # Measured: two instances (four workers) answered 503 "database is locked" to 6 of 37 exports, and npm's
    # exporter gave up. A DEFERRED transaction that reads and then writes cannot wait on SQLite's busy timeout.
    return (
        "several console instances writing one SQLite file answer 503 'database is locked' under concurrent "
        "ingest (Django's DEFERRED transactions cannot wait on SQLite's busy timeout): these tests run on "
        "PostgreSQL, or on SQLite once its OPTIONS set transaction_mode=IMMEDIATE"
    )


@contextmanager
def serve_balanced_console(instances: int = 2, workers: int = 2) -> Iterator[BalancedConsole]:
    """`instances` gunicorn consoles on the test database and nginx in front of them; all stopped on exit."""
    require_binary(NGINX, "make peers")  # before starting any gunicorn
    logs = Path(tempfile.mkdtemp(prefix="jobtrace-balanced-"))
    try:
        with ExitStack() as stack:
            access_logs = tuple(logs / f"gunicorn-{i}.access.log" for i in range(instances))
            consoles = tuple(
                stack.enter_context(serve_gunicorn(workers=workers, access_log=log)) for log in access_logs
            )
            balancer = stack.enter_context(serve_nginx([c.url for c in consoles]))
            yield BalancedConsole(url=balancer.url, balancer=balancer, instances=consoles, access_logs=access_logs)
    finally:
        shutil.rmtree(logs, ignore_errors=True)
