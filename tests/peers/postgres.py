"""A throwaway PostgreSQL cluster of its own (Debian's binaries: initdb + pg_ctl on a free port under a temporary
directory), for tests that freeze or stop the database without touching the shared server."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.peers.gunicorn import free_port


@dataclass(frozen=True)
class Cluster:
    port: int
    data: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def pids(self) -> list[int]:
        """The postmaster and every process it started (backends, checkpointer, walwriter, ...)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        pids = [postmaster]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                    pids.append(int(stat.parent.name))
        return pids

    def signal_all(self, sig: signal.Signals) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found and not shutil.which("initdb"):
        message = "no PostgreSQL server binaries (initdb) on this machine"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return Path(found[-1]).parent if found else Path(shutil.which("initdb") or "").parent


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """initdb + pg_ctl start on 127.0.0.1:<free port>; stopped (immediately) and removed on exit. As root the
    cluster belongs to the postgres user, as PostgreSQL requires."""
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="jobtrace-pg-"))
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    cluster = Cluster(port, data)

    def run(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, capture_output=True, timeout=60)

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=30"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.signal_all(signal.SIGCONT)  # a test that froze it must not leave it frozen
        with contextlib.suppress(Exception):
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def create_database(cluster: Cluster, name: str) -> str:
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return cluster.url(name)
