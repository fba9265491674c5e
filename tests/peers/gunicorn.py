"""The console served by gunicorn (as `make serve` serves it) against the test database, started once per run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import requests
from django.db import connection

from tests.peers.process import die_with_parent

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LiveConsole:
    url: str
    pid: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_database_url() -> str:
    """The DATABASE_URL of the database the tests run on (pytest-django's test database)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        name = str(db["NAME"])
        if name in ("", ":memory:") or name.startswith("file:memorydb"):
            raise RuntimeError("another process cannot share an in-memory SQLite test database")
        return f"sqlite:///{name}"
    user = quote(db.get("USER") or "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{user}{password}@{host}{port}/{quote(str(db['NAME']))}"


@contextmanager
def serve_gunicorn(
    extra_env: dict[str, str] | None = None, workers: int = 2, access_log: Path | None = None
) -> Iterator[LiveConsole]:
    """gunicorn with the project's own config, bound to a free loopback port; stopped on exit.

    `access_log`: a file for gunicorn's access log (one line per request this instance answered).
    """
    port = free_port()
    env = {**os.environ, "DATABASE_URL": test_database_url(), "DJANGO_SETTINGS_MODULE": "console.settings"}
    env.update(extra_env or {})
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "console.wsgi",
        "--config",
        str(ROOT / "console" / "gunicorn.conf.py"),
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
    ]
    if access_log is not None:
        command += ["--access-logfile", str(access_log)]
    # Terminated with the test process even if that is killed (no gunicorn left serving after a run).
    process = subprocess.Popen(command, cwd=ROOT, env=env, preexec_fn=die_with_parent)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode} before serving")
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or a worker still loading
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer /healthz within 30 s")
            time.sleep(0.1)
        yield LiveConsole(url=url, pid=process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
