"""Django's PostgreSQL backend, plus a deadline on every wait for the server.

A database that stops answering — frozen (SIGSTOP, a hung host, a storage stall) rather than down — is the case
the server-side timeouts cannot catch: `statement_timeout` is enforced by the server that is stuck, and its kernel
still acknowledges TCP, so keepalives and `tcp_user_timeout` never fire. A query on an open connection would wait
for as long as the freeze lasts (gunicorn then kills the worker and the client gets no answer at all).

So every wait of psycopg for the server (a query, a COPY, a commit: `Connection.wait`) is given a deadline,
the statement timeout plus a second (`JOBTRACE_DB_STATEMENT_TIMEOUT_SECONDS`), and Django's per-request health
check (`SELECT 1` on a reused connection) a shorter one. Past it the connection is closed, never reused, and
`DatabaseNotAnswering` (an OperationalError for psycopg and for Django alike) is raised: the receivers and
console.middleware answer 503 with Retry-After. A slow query on a live server is cancelled by the server first
(statement_timeout), so the deadline only fires on a server that cannot.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.db.backends.postgresql import base
from django.db.utils import OperationalError as DjangoOperationalError

# psycopg raises this (an OperationalError) from Connection.wait(timeout=...) when the timeout passes.
_WaitTimeout = psycopg.errors._WaitTimeout

HEALTH_CHECK_SECONDS = 1.0


class DatabaseNotAnswering(psycopg.OperationalError, DjangoOperationalError):
    """The server did not answer within the deadline; the connection was closed."""


class DeadlineConnection(psycopg.Connection):  # type: ignore[type-arg]
    """A psycopg connection whose waits for the server end at `deadline` seconds (None: no deadline)."""

    deadline: float | None = None
    timed_out = False

    def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
        deadline = self.deadline
        if not deadline or kwargs.get("timeout") is not None or len(args) > 1:
            return super().wait(gen, *args, **kwargs)
        try:
            return super().wait(gen, *args, **{**kwargs, "timeout": deadline})
        except _WaitTimeout:
            # The server is mid-statement or gone: the connection's state is unknown, so it is never used again.
            self.timed_out = True
            self.pgconn.finish()
            raise DatabaseNotAnswering(f"the database did not answer within {deadline:g} s") from None


class PooledDeadlineConnection(DeadlineConnection):
    """A connection of the pool (OPTIONS["pool"]): idle in the pool its waits have the health check's deadline
    (the pool checks it before handing it out, and configures new ones); in use, the full one."""

    deadline = HEALTH_CHECK_SECONDS


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> Any:
        options = self.settings_dict["OPTIONS"].get("pool")
        if isinstance(options, dict) and self.settings_dict.get("DEADLINE_SECONDS"):
            options.setdefault("connection_class", PooledDeadlineConnection)
        return super().pool

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        deadline = self.settings_dict.get("DEADLINE_SECONDS")
        if deadline:
            # psycopg.connect() has no parameter for the connection's class; the subclass adds only wait().
            if type(connection) is psycopg.Connection:
                connection.__class__ = DeadlineConnection
            if isinstance(connection, DeadlineConnection):
                connection.deadline = float(deadline)
        return connection

    def _close(self) -> None:
        connection = self.connection
        if self.pool and isinstance(connection, PooledDeadlineConnection):
            connection.deadline = HEALTH_CHECK_SECONDS  # back in the pool: its next use starts with the check
        super()._close()

    def close_if_health_check_failed(self) -> None:
        connection = self.connection
        super().close_if_health_check_failed()
        if isinstance(connection, DeadlineConnection) and connection.timed_out:
            # The server did not answer a SELECT 1: connecting again would only wait out connect_timeout.
            raise DatabaseNotAnswering(f"the database did not answer a health check within {HEALTH_CHECK_SECONDS:g} s")

    def is_usable(self) -> bool:
        connection = self.connection
        if not isinstance(connection, DeadlineConnection) or not connection.deadline:
            return super().is_usable()
        # The health check is a SELECT 1: a server that needs longer is not answering.
        saved = connection.deadline
        connection.deadline = min(saved, HEALTH_CHECK_SECONDS)
        try:
            return super().is_usable()
        finally:
            connection.deadline = saved
