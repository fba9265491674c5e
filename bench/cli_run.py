"""`jobtrace run`'s own overhead on a command that does nothing: `jobtrace run -- true` against `true`.

Wall time and CPU (user + system of the wrapper and its child, from RUSAGE_CHILDREN) per run, with the console
up (gunicorn, 2 workers, on a fresh PostgreSQL database: policy fetch, records and the span over loopback) and
down (a closed port). Runs alternate between the variants, in ROUNDS rounds of RUNS each, so a shared machine's
load hits all of them alike; printed: the median per round and the spread (min-max) of the round medians. Also the
stdout copy: 1 GiB through the wrapper against the same command alone.

    .venv/bin/python -m bench cli_run      (BENCH_CLI_RUNS=20 BENCH_CLI_ROUNDS=3)
"""

from __future__ import annotations

import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench._support import ROOT, fresh_database, gunicorn

RUNS = int(os.environ.get("BENCH_CLI_RUNS", "20"))
ROUNDS = int(os.environ.get("BENCH_CLI_ROUNDS", "3"))
JOBTRACE = str(Path(sys.executable).with_name("jobtrace"))
TRUE = "/bin/true"
FLOOD_MIB = 1024
WARNED: list[str] = []


def _token(database_url: str) -> str:
    env = {**os.environ, "DATABASE_URL": database_url}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "create_namespace", "bench"], cwd=ROOT, env=env, check=True, capture_output=True)
    out = subprocess.run(
        [*manage, "create_token", "bench", "--scopes", "ingest,read"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(url: str, token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBTRACE_", "OTEL_", "DJANGO_"))}
    env.update({"JOBTRACE_URL": url, "JOBTRACE_TOKEN": token, "JOBTRACE_NAMESPACE": "bench"})
    return env


def _once(command: list[str], env: dict[str, str], stdout: int | None = subprocess.DEVNULL) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of the process tree) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=stdout, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{command[:4]} exited {done.returncode}: {done.stderr[-500:]!r}")
    if done.stderr and command[0] == JOBTRACE and "down" not in env.get("BENCH_VARIANT", ""):
        WARNED.append(done.stderr.decode().strip()[-300:])  # the console too slow for the budget (a loaded machine)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.1f}"


def main() -> None:
    database_url = fresh_database("cli_run")
    token = _token(database_url)
    down_url = f"http://127.0.0.1:{_closed_port()}"
    with gunicorn(database_url) as up_url:
        variants = {
            "true": ([TRUE], {**_env("", "")}),
            "jobtrace run (console up)": ([JOBTRACE, "run", "--job", "noop", "--", TRUE], _env(up_url, token)),
            "jobtrace run (console down)": (
                [JOBTRACE, "run", "--job", "noop", "--", TRUE],
                {**_env(down_url, token), "BENCH_VARIANT": "down"},
            ),
        }
        for command, env in variants.values():  # warm the page cache and gunicorn's workers
            _once(command, env)
        rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for _ in range(ROUNDS):
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
            for _ in range(RUNS):
                for name, (command, env) in variants.items():
                    samples[name].append(_once(command, env))
            for name, values in samples.items():
                rounds[name].append((statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)))

        print(f"{RUNS} runs x {ROUNDS} rounds, alternating; per round the median; spread = min-max of the rounds")
        print(f"{'':30} {'wall ms':>9} {'spread':>15} {'CPU ms':>9} {'spread':>15}")
        for name, per_round in rounds.items():
            walls = [w for w, _ in per_round]
            cpus = [c for _, c in per_round]
            print(
                f"{name:30} {_ms(walls):>9} {min(walls) * 1000:7.1f}-{max(walls) * 1000:<7.1f} "
                f"{_ms(cpus):>9} {min(cpus) * 1000:7.1f}-{max(cpus) * 1000:<7.1f}"
            )
        base_wall = statistics.median(w for w, _ in rounds["true"])
        base_cpu = statistics.median(c for _, c in rounds["true"])
        for name in list(variants)[1:]:
            wall = statistics.median(w for w, _ in rounds[name]) - base_wall
            cpu = statistics.median(c for _, c in rounds[name]) - base_cpu
            print(f"overhead, {name}: +{wall * 1000:.0f} ms wall, +{cpu * 1000:.0f} ms CPU per run")

        if WARNED:
            print(f"{len(WARNED)} runs with the console up warned (over budget), e.g.: {WARNED[0]}")
        flood = [sys.executable, "-c", f"import os\nb=b'x'*(1<<20)\nfor _ in range({FLOOD_MIB}): os.write(1, b)"]
        direct = [_once(flood, _env("", ""))[0] for _ in range(ROUNDS)]
        wrapped = [
            _once([JOBTRACE, "run", "--job", "flood", "--", *flood], _env(up_url, token))[0] for _ in range(ROUNDS)
        ]
        print(
            f"stdout copy, {FLOOD_MIB} MiB to /dev/null: {FLOOD_MIB / statistics.median(direct):.0f} MiB/s alone, "
            f"{FLOOD_MIB / statistics.median(wrapped):.0f} MiB/s through the wrapper "
            f"(runs {', '.join(f'{w:.2f}' for w in wrapped)} s)"
        )
