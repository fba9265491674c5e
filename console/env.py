"""Typed helpers that read settings from the environment and fail loudly on a bad value."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip().replace("_", ""))
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


# Writers wait for the file lock instead of failing at once; WAL lets readers read while one process writes.
# IMMEDIATE: a transaction takes the write lock when it begins, so a writer waits out `timeout` for another
# process's writer instead of failing with "database is locked" when it upgrades a read lock mid-transaction.
SQLITE_OPTIONS = {
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
}


def env_rate(name: str, default: str) -> tuple[int, float] | None:
    """A rate limit `N/s`, `N/m` or `N/h` (N requests per second, minute or hour) as (N, period seconds);
    `0` or `off` turns it off (None)."""
    raw = os.environ.get(name, default).strip().lower()
    if raw in {"0", "off", "none", ""}:
        return None
    count, _, unit = raw.partition("/")
    periods = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}
    try:
        number = int(count.strip().replace("_", ""))
    except ValueError:
        number = 0
    if number <= 0 or unit.strip() not in periods:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a rate (use N/s, N/m or N/h, or off)")
    return number, periods[unit.strip()]


def database_from_url(
    url: str,
    *,
    connect_timeout: int = 3,
    statement_timeout: float = 0,
    idle_in_transaction_timeout: int = 0,
    keepalive: int = 0,
    pool_size: int = 0,
) -> dict[str, Any]:
    """Turn `postgres://user:pass@host:port/name?sslmode=...` or `sqlite:///path` into a DATABASES entry.

    PostgreSQL connections get: `connect_timeout` (seconds to open one); `statement_timeout` (seconds, enforced by
    the server; plus a client-side deadline one second longer on every wait for the server, which a frozen server
    cannot ignore: console/db/base.py); `idle_in_transaction_session_timeout` (a client stuck inside a
    transaction loses it and its locks); TCP keepalives and `tcp_user_timeout` (a peer that vanished from the
    network). 0 leaves each one off. Parameters in the URL's query string win over all of these.

    `pool_size` > 0: each process keeps a pool of at most that many connections (psycopg_pool, Django's
    OPTIONS["pool"]) instead of one persistent connection per thread or greenlet; waiting for a free one ends at
    `connect_timeout` (then a 503)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in {"postgres", "postgresql", "pgsql"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured(f"DATABASE_URL {url!r} names no database")
        options: dict[str, Any] = {"connect_timeout": connect_timeout}
        server = []
        if statement_timeout:
            server.append(f"-c statement_timeout={round(statement_timeout * 1000)}")
        if idle_in_transaction_timeout:
            server.append(f"-c idle_in_transaction_session_timeout={idle_in_transaction_timeout * 1000}")
        if server:
            options["options"] = " ".join(server)
        if keepalive:
            options.update(
                keepalives=1,
                keepalives_idle=keepalive,
                keepalives_interval=max(1, keepalive // 3),
                keepalives_count=3,
                tcp_user_timeout=keepalive * 1000,
            )
        options.update(dict(parse_qsl(parts.query)))
        if pool_size:
            options["pool"] = {"min_size": 1, "max_size": pool_size, "timeout": connect_timeout, "max_idle": 60}
        return {
            "ENGINE": "console.db",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 0 if pool_size else 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
            "DEADLINE_SECONDS": statement_timeout + 1 if statement_timeout else None,
        }
    if scheme == "sqlite":
        path = unquote(parts.path)
        if path.startswith("//") or path.startswith("/"):  # sqlite:////abs/path
            path = path[1:]
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path or ":memory:", "OPTIONS": dict(SQLITE_OPTIONS)}
    raise ImproperlyConfigured(f"DATABASE_URL scheme {scheme!r} is not supported (use postgres:// or sqlite:///)")
