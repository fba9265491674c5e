"""npm's OpenTelemetry Node.js SDK as a second OTLP client (`make test` installs it: `make node-clients`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

NODE_CLIENTS = Path(__file__).resolve().parents[1] / "clients" / "node"


def require_node_clients() -> Path:
    """The folder of the Node.js clients, installed; a missing install fails in CI and skips elsewhere."""
    problem = None
    if not shutil.which("node"):
        problem = "no node on PATH"
    elif not (NODE_CLIENTS / "node_modules" / "@opentelemetry" / "sdk-trace-node").is_dir():
        problem = f"the Node.js clients are not installed in {NODE_CLIENTS} (`make node-clients`)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    return NODE_CLIENTS


def run_node(script: str, *args: str, timeout: float = 60) -> dict[str, Any]:
    """Run one of the client scripts; its last stdout line is its JSON report."""
    folder = require_node_clients()
    done = subprocess.run(
        ["node", script, *args], cwd=folder, capture_output=True, text=True, timeout=timeout, check=False
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise AssertionError(f"node {script} exited {done.returncode}: {done.stderr[-2000:]}")
    return json.loads(lines[-1])
