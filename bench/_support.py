"""Shared by the benchmarks: a fresh PostgreSQL database, a live gunicorn, peak memory."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent


def fresh_database(suffix: str) -> str:
    """Drop and re-create a benchmark database; migrate it; return its URL."""
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jobtrace_bench")
    parts = urlsplit(base)
    name = f"{parts.path.lstrip('/')}_{suffix}"
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = parts._replace(path=f"/{name}").geturl()
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(
    database_url: str, workers: int = 2, args: Sequence[str] = (), root: Path = ROOT, env: dict[str, str] | None = None
) -> Iterator[str]:
    """The production server (`make serve`'s console/gunicorn.conf.py, from `root`: another checkout can be
    measured beside this one) on a loopback port; `args` override the config (e.g. `--worker-class sync`).
    Yields its base URL and stops it afterwards."""
    port = free_port()
    server_env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    server_env.pop("GUNICORN_CMD_ARGS", None)
    if server_env.pop("JOBTRACE_BENCH_SET_STATEMENT_TIMEOUT", None) and "JOBTRACE_DB_STATEMENT_TIMEOUT_SECONDS" not in (
        env or {}
    ):
        server_env.pop("JOBTRACE_DB_STATEMENT_TIMEOUT_SECONDS", None)  # the server measured as it is deployed
    command = [sys.executable, "-m", "gunicorn", "console.wsgi", "--workers", str(workers)]
    if (root / "console" / "gunicorn.conf.py").exists():
        command += ["--config", str(root / "console" / "gunicorn.conf.py")]
    command += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning", "--timeout", "120", *args]
    proc = subprocess.Popen(command, cwd=root, env=server_env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def peak_rss_mib(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def span_partitions(conn: psycopg.Connection, start_ns: Sequence[int]) -> None:
    """The daily span partitions (traces/partitions.py) of these start times, for a benchmark that COPYs straight
    into traces_span (the writer creates a missing day itself). Nothing on an unpartitioned table."""
    day_ns = 86_400 * 1_000_000_000
    if conn.execute("SELECT 1 FROM pg_class WHERE relname = 'traces_span' AND relkind = 'p'").fetchone() is None:
        return
    for day in sorted({v // day_ns for v in start_ns}):
        name = time.strftime("traces_span_p%Y%m%d", time.gmtime(day * 86_400))
        low = day * day_ns
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF traces_span FOR VALUES FROM ({low}) TO ({low + day_ns})"
        )
    conn.commit()
