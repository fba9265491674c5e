"""The span receiver under each way of serving it, in the same run: another commit's code (the baseline: where
this branch left main, by default) against this tree under gunicorn's sync, gthread and gevent workers (gevent is
`make serve`'s).

bench/spans.py's batches (512 spans, protobuf and OTLP/JSON) posted by 4 client threads to each server (2
workers) in turn, round after round, so every server meets the same box, table size and noise. Printed: spans/s
per server and format, each round's rate (the spread), the ratio to the baseline, and the gunicorn workers' CPU
per span (PostgreSQL's share is the same code for all).

    python -m bench serving
    BENCH_BASELINE=<git ref> BENCH_SERVING_BATCHES=60 BENCH_SERVING_ROUNDS=3 python -m bench serving
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tarfile
import tempfile
from contextlib import ExitStack
from io import BytesIO
from pathlib import Path

import psycopg

from bench._support import ROOT, fresh_database, gunicorn
from bench.spans import SPANS_PER_BATCH, Run, _cpu_seconds, _manage, _payloads, _post_all

FORMATS = ("protobuf", "json")


def _merge_base() -> str:
    """Where this branch left main: the code it changes (main itself once merged)."""
    done = subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip() or "HEAD"


def _baseline_tree(ref: str, into: Path) -> str:
    """`git archive` of `ref` (the committed code, not a work tree) unpacked under `into`; its short commit id."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    archive = subprocess.run(["git", "archive", "--format=tar", ref], cwd=ROOT, check=True, capture_output=True)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return commit


def _server_pids(base: str) -> set[int]:
    """The gunicorn master listening on `base` and its workers (found through /proc: the master's command line
    names the port)."""
    port = base.rsplit(":", 1)[1]
    masters = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
                if b"gunicorn" in b" ".join(cmd) and f"127.0.0.1:{port}".encode() in cmd:
                    masters.add(int(entry.name))
    pids = set(masters)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) in masters:
                    pids.add(int(entry.name))
    return pids


def main() -> None:
    batches = int(os.environ.get("BENCH_SERVING_BATCHES", "60"))
    rounds = int(os.environ.get("BENCH_SERVING_ROUNDS", "3"))
    ref = os.environ.get("BENCH_BASELINE") or _merge_base()
    url = fresh_database("serving")
    with tempfile.TemporaryDirectory(prefix="jobtrace-baseline-") as tmp:
        commit = _baseline_tree(ref, Path(tmp))
        servers = {
            f"baseline {commit} (its make serve)": (Path(tmp), ()),
            "this tree, sync": (ROOT, ("--worker-class", "sync")),
            "this tree, gthread x4": (ROOT, ("--worker-class", "gthread", "--threads", "4")),
            "this tree, gevent (make serve)": (ROOT, ()),
        }
        tokens = {}
        for i, name in enumerate(servers):
            _manage(url, "create_namespace", f"bench{i}")
            tokens[name] = _manage(url, "create_token", f"bench{i}", "--scopes", "ingest")
        payloads = {name: {fmt: _payloads(fmt, batches + 4) for fmt in FORMATS} for name in servers}
        results = {name: {fmt: Run() for fmt in FORMATS} for name in servers}
        cpu = {name: {fmt: 0.0 for fmt in FORMATS} for name in servers}
        with ExitStack() as stack:
            bases = {name: stack.enter_context(gunicorn(url, 2, args, root)) for name, (root, args) in servers.items()}
            for name, base in bases.items():
                for fmt in FORMATS:
                    _post_all(base, tokens[name], fmt, payloads[name][fmt][:4], url, Run())  # warm-up
            pids = {name: _server_pids(base) for name, base in bases.items()}
            for r in range(rounds):
                for name, base in bases.items():
                    for fmt in FORMATS:
                        before = _cpu_seconds(pids[name])
                        _post_all(base, tokens[name], fmt, payloads[name][fmt][4:][r::rounds], url, results[name][fmt])
                        cpu[name][fmt] += _cpu_seconds(pids[name]) - before

    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT count(*) FROM traces_span").fetchone()[0]
    expected = len(servers) * len(FORMATS) * (batches + 4) * SPANS_PER_BATCH
    print(
        f"{batches} batches of {SPANS_PER_BATCH} spans per format and server, {rounds} rounds, servers in turn; "
        f"2 workers each; load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    baseline = next(iter(servers))
    for fmt in FORMATS:
        base_rate = results[baseline][fmt].rate
        print(f"{fmt}:")
        for name in servers:
            run = results[name][fmt]
            print(
                f"  {name:<34} {run.rate:8,.0f} spans/s  x{run.rate / base_rate:4.2f}  "
                f"gunicorn CPU {cpu[name][fmt] / run.spans * 1e6:5.1f} µs/span  "
                f"rounds {' / '.join(f'{x:,.0f}' for x in run.rounds)}"
            )
    print(f"stored {stored:,} spans (expected {expected:,})")
    if stored != expected:
        raise RuntimeError("spans were lost or duplicated")
