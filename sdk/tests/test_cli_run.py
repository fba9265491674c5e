"""`jobtrace run` with real child processes against the loopback capture console: what is recorded, what the child
is handed, and that the wrapper never harms the job (exit code, output, signals, timeouts, a console down, slow or
refusing). The end-to-end run against the live console is tests/test_cli_run_live.py."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jobtrace_sdk.cli import parse_duration
from jobtrace_sdk.output import Tail
from jobtrace_sdk.propagation import extract_env, inject_env
from jobtrace_sdk.testing import CaptureConsole
from opentelemetry import baggage, trace

JOBTRACE = str(Path(sys.executable).with_name("jobtrace"))


@pytest.fixture
def console() -> Iterator[CaptureConsole]:
    with CaptureConsole(default_rate=1.0) as c:
        yield c


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBTRACE_", "OTEL_"))}
    env.pop("TRACEPARENT", None)
    env.pop("BAGGAGE", None)
    env.update({"JOBTRACE_URL": url, "JOBTRACE_TOKEN": "jt_test", "JOBTRACE_NAMESPACE": "shop", **extra})
    return env


def jobtrace_run(url: str, *args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run(
        [JOBTRACE, "run", *args], env=env or _env(url), capture_output=True, timeout=60, check=False, **kw
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _only_execution(console: CaptureConsole) -> dict[str, Any]:
    (record,) = console.latest("executions").values()
    return record


# --- a shell script ---------------------------------------------------------------------------------------------

SCRIPT = r"""
echo "to stdout"
printf 'no newline at the end' >&2
echo "TRACEPARENT=$TRACEPARENT"
echo "BAGGAGE=$BAGGAGE"
exit "${1:-0}"
"""


def test_a_shell_script_is_one_execution_and_its_output_passes_through_unchanged(console, tmp_path):
    script = tmp_path / "job.sh"
    script.write_text(SCRIPT)
    done = jobtrace_run(console.url, "--job", "nightly-export", "--execution-id", "run-1", "--", "sh", str(script))
    assert done.returncode == 0
    lines = done.stdout.decode().splitlines()
    assert lines[0] == "to stdout"
    assert done.stderr == b"no newline at the end"  # byte for byte, and nothing of ours: the console was up

    versions = [r for r in console.records("executions") if r["execution_id"] == "run-1"]
    assert versions[0]["status"] == "running"
    record = console.latest("executions")["run-1"]
    assert record["status"] == "succeeded"
    assert record["job"] == "nightly-export"
    assert record["namespace"] == "shop"
    assert record["worker"] == socket.gethostname()
    assert record["started_at"] < record["finished_at"]
    assert record["error"] == ""
    assert record["sampled"] is True

    # The child continued the execution's trace, with the job marks as baggage (the HTTP-task story's marks).
    traceparent = lines[1].removeprefix("TRACEPARENT=")
    version, trace_id, span_id, flags = traceparent.split("-")
    assert (version, trace_id, int(flags, 16) & 1) == ("00", record["trace_id"], 1)
    marks = dict(item.split("=", 1) for item in lines[2].removeprefix("BAGGAGE=").split(","))
    assert marks["job.name"] == "nightly-export"
    assert marks["job.execution.id"] == "run-1"
    assert marks["job.namespace"] == "shop"
    (root,) = console.spans()
    assert (root["trace_id"], root["span_id"], root["parent_span_id"]) == (trace_id, span_id, "")
    assert root["attributes"]["process.exit.code"] == 0
    assert root["attributes"]["job.status"] == "succeeded"
    assert root["service"] == "jobtrace-run"
    assert root["authorization"] == "Bearer jt_test"


def test_a_failing_command_keeps_its_exit_code_and_its_stderr_tail_is_the_error(console, tmp_path):
    script = tmp_path / "job.sh"
    script.write_text(SCRIPT)
    done = jobtrace_run(console.url, "--job", "nightly-export", "--", "sh", str(script), "3")
    assert done.returncode == 3
    record = _only_execution(console)
    assert record["status"] == "failed"
    assert record["error"].startswith("exit code 3\n")
    assert record["error"].endswith("no newline at the end")
    (root,) = console.spans()
    assert root["status_code"] == 2  # ERROR
    assert root["attributes"]["process.exit.code"] == 3


def test_the_error_keeps_only_the_last_8_kib_of_a_long_stderr(console):
    child = "import sys\nfor i in range(5000): print(f'line {i:05d}', file=sys.stderr)\nsys.exit(1)"
    done = jobtrace_run(console.url, "--job", "chatty", "--", sys.executable, "-c", child)
    assert done.returncode == 1
    assert done.stderr.decode().splitlines()[-1] == "line 04999"  # the terminal got all of it
    assert len(done.stderr.decode().splitlines()) == 5000
    error = _only_execution(console)["error"]
    tail = error.split("--- stderr (last 8 KiB) ---\n", 1)[1]
    assert tail.startswith("[…]\nline ")  # cut at a line start
    assert tail.endswith("line 04999\n")
    assert len(tail.encode()) <= 8 * 1024 + 10
    assert "line 00000" not in error


def test_a_command_that_is_not_found_fails_with_127(console):
    done = jobtrace_run(console.url, "--job", "typo", "--", "no-such-command-here")
    assert done.returncode == 127
    record = _only_execution(console)
    assert record["status"] == "failed"
    assert "command not found: no-such-command-here" in record["error"]


def test_our_own_usage_errors_stop_before_anything_runs(console, tmp_path):
    marker = tmp_path / "ran"
    no_separator = jobtrace_run(console.url, "--job", "x", "touch", str(marker))
    assert no_separator.returncode == 2
    assert b"give the command after --" in no_separator.stderr
    label_alone = jobtrace_run(console.url, "--job", "x", "--label", "a=b", "--", "touch", str(marker))
    assert label_alone.returncode == 2
    bad_timeout = jobtrace_run(console.url, "--job", "x", "--timeout", "soon", "--", "touch", str(marker))
    assert bad_timeout.returncode == 2
    assert b"not a duration" in bad_timeout.stderr
    assert not marker.exists()
    assert console.requests == []


# --- signals and time limits ------------------------------------------------------------------------------------

TRAPPING = r"""
trap 'echo "child got TERM"; exit 0' TERM
sleep 60 & echo "grandchild $!"
echo ready
wait
"""

STUBBORN = r"""
trap '' TERM INT
echo ready
while :; do sleep 0.1; done
"""


def _start(url: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [JOBTRACE, "run", *args], env=_env(url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return proc


def _wait_ready(proc: subprocess.Popen) -> list[str]:
    lines = []
    while True:
        line = proc.stdout.readline()
        assert line, "the child never said ready"
        lines.append(line.strip())
        if line.strip() == "ready":
            return lines


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waiting for its parent counts as gone.
    status = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return status not in ("Z", "X")


def test_sigterm_is_forwarded_to_the_whole_process_group_and_the_run_is_cancelled(console):
    proc = _start(console.url, "--job", "long", "--", "sh", "-c", TRAPPING)
    lines = _wait_ready(proc)
    grandchild = int(next(line for line in lines if line.startswith("grandchild")).split()[1])
    # Between fork and exec the grandchild is still the shell, which would hold the signal for its trap.
    deadline = time.monotonic() + 10
    while Path(f"/proc/{grandchild}/comm").read_text().strip() != "sleep" and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert "child got TERM" in out
    assert proc.returncode == 0  # the child's own exit status, unchanged
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild), "the grandchild (same process group) did not get SIGTERM"
    record = _only_execution(console)
    assert record["status"] == "cancelled"
    assert record["error"].startswith("cancelled by SIGTERM")


def test_a_child_that_ignores_sigint_is_killed_after_the_grace_and_the_run_is_cancelled(console):
    proc = _start(console.url, "--job", "stubborn", "--kill-after", "0.5", "--", "sh", "-c", STUBBORN)
    _wait_ready(proc)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGKILL
    record = _only_execution(console)
    assert record["status"] == "cancelled"
    assert "SIGINT" in record["error"]
    assert "SIGKILL" in record["error"]


def test_a_child_killed_by_a_signal_fails_the_run_with_128_plus_the_signal(console):
    done = jobtrace_run(console.url, "--job", "oom", "--", "sh", "-c", "echo 'about to die' >&2; kill -9 $$")
    assert done.returncode == 128 + signal.SIGKILL
    record = _only_execution(console)
    assert record["status"] == "failed"
    assert record["error"].startswith("killed by SIGKILL")
    assert "about to die" in record["error"]


def test_a_command_past_its_timeout_is_stopped_and_timed_out_with_124(console):
    done = jobtrace_run(console.url, "--job", "slow", "--timeout", "1s", "--", "sleep", "30")
    assert done.returncode == 124
    record = _only_execution(console)
    assert record["status"] == "timed_out"
    assert record["error"] == "timed out after 1 s (SIGTERM sent)"
    (root,) = console.spans()
    assert root["status_code"] == 2
    finished = record["finished_at"]
    assert finished > record["started_at"]


def test_a_timeout_kills_a_child_that_ignores_sigterm(console):
    done = jobtrace_run(
        console.url, "--job", "slow", "--timeout", "0.5s", "--kill-after", "0.5s", "--", "sh", "-c", STUBBORN
    )
    assert done.returncode == 124
    record = _only_execution(console)
    assert record["status"] == "timed_out"
    assert "SIGKILL" in record["error"]


# --- output -----------------------------------------------------------------------------------------------------

FLOOD = r"""
import hashlib, os, sys
block = bytes(range(256)) * 256  # 64 KiB, every byte value
digest = hashlib.sha256()
for i in range(int(sys.argv[1])):
    chunk = block[i % 256:] + block[:i % 256]
    sys.stdout.buffer.write(chunk)
    digest.update(chunk)
sys.stdout.flush()
sys.stderr.write(digest.hexdigest())
"""


def test_a_child_flooding_stdout_gets_every_byte_through_in_order(console, tmp_path):
    out = tmp_path / "out.bin"
    with out.open("wb") as sink:
        done = subprocess.run(
            [JOBTRACE, "run", "--job", "flood", "--", sys.executable, "-c", FLOOD, "1600"],  # 100 MiB
            env=_env(console.url),
            stdout=sink,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0
    assert out.stat().st_size == 1600 * 64 * 1024
    assert hashlib.sha256(out.read_bytes()).hexdigest() == done.stderr.decode()
    assert _only_execution(console)["status"] == "succeeded"


def test_a_reader_that_goes_away_gives_the_child_sigpipe_as_without_the_wrapper(console):
    done = subprocess.run(  # noqa: S602 - the pipe to head is the point
        f"{JOBTRACE} run --job piped -- yes | head -n 3",
        shell=True,
        env=_env(console.url),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.stdout == b"y\ny\ny\n"
    record = _only_execution(console)
    assert record["status"] == "failed"
    assert record["error"].startswith("killed by SIGPIPE")


# --- the console down, slow or refusing -------------------------------------------------------------------------


def _timed(url: str, *args: str) -> tuple[subprocess.CompletedProcess, float, float]:
    """The wrapped run's wall time, and the same command's without the wrapper's reporting (console unset)."""
    started = time.monotonic()
    done = jobtrace_run(url, *args)
    wrapped = time.monotonic() - started
    started = time.monotonic()
    jobtrace_run("", *args, env=_env(""))
    unreported = time.monotonic() - started
    return done, wrapped, unreported


def test_a_console_that_is_down_costs_the_job_nothing_but_a_warning(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}"
    done, wrapped, unreported = _timed(url, "--job", "nightly", "--", "sh", "-c", "echo done; exit 5")
    assert done.returncode == 5
    assert done.stdout == b"done\n"
    (warning,) = done.stderr.decode().splitlines()  # one line of ours, and the child's output unchanged
    assert warning.startswith("jobtrace: warning: could not fully report nightly run ")
    assert url in warning
    assert "exit status is unaffected (5)" in warning
    # A refused connection is not waited for: no retry back-off, no budget spent (the slow console spends it).
    assert wrapped - unreported < 1.0


@pytest.mark.parametrize("where", ["slow", "refusing"])
def test_a_slow_or_refusing_console_costs_at_most_the_budget_and_a_warning(where):
    with CaptureConsole(default_rate=1.0, delay=10.0 if where == "slow" else 0.0) as console:
        if where == "refusing":
            console.status = 401
        done, wrapped, unreported = _timed(console.url, "--job", "nightly", "--", "true")
    assert done.returncode == 0
    (warning,) = done.stderr.decode().splitlines()
    assert warning.startswith("jobtrace: warning: could not fully report nightly run")
    if where == "refusing":
        assert "HTTP 401" in warning
    # A slow console would otherwise hold the job 10 s per request (policy, records, spans).
    assert wrapped - unreported < 2.0 + 3.0


def test_records_are_retried_in_the_background_while_the_child_runs(console):
    console.status = 503  # a console restarting: the first posts fail, the later ones get through
    child = "import time; time.sleep(2.0)"
    proc = subprocess.Popen(
        [JOBTRACE, "run", "--job", "during-a-deploy", "--", sys.executable, "-c", child],
        env=_env(console.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while not console.posted("/api/v1/executions") and time.monotonic() < deadline:
        time.sleep(0.01)
    console.status = 200
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert err == b""
    statuses = [r["status"] for r in console.records("executions")]
    assert statuses.count("running") >= 2  # refused, then retried while the child ran
    assert _only_execution(console)["status"] == "succeeded"


# --- sampling, context in, shards, declarations -----------------------------------------------------------------


def test_sampling_follows_the_job_policy_and_manual_runs_are_always_sampled(tmp_path):
    show = ["--", "sh", "-c", 'echo "$TRACEPARENT"']
    with CaptureConsole(policies={("shop", "warmup"): 0.0}) as console:
        skipped = jobtrace_run(console.url, "--job", "warmup", "--trigger", "scheduled", "--execution-id", "s", *show)
        by_hand = jobtrace_run(console.url, "--job", "warmup", "--trigger", "manual", "--execution-id", "m", *show)
        records = console.latest("executions")
        spans = console.spans()
    assert skipped.stdout.decode().strip().endswith("-00") or int(skipped.stdout.split(b"-")[3], 16) & 1 == 0
    assert int(by_hand.stdout.split(b"-")[3], 16) & 1 == 1
    assert (records["s"]["sampled"], records["m"]["sampled"]) == (False, True)
    assert records["s"]["trace_id"]  # known even though nothing was exported
    assert [s["attributes"]["job.execution.id"] for s in spans] == ["m"]


def test_a_traceparent_given_to_the_wrapper_is_continued(console):
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    done = jobtrace_run(
        console.url, "--job", "step", "--", "sh", "-c", 'echo "$TRACEPARENT"', env=_env(console.url, TRACEPARENT=parent)
    )
    assert done.stdout.decode().split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert _only_execution(console)["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    (root,) = console.spans()
    assert root["parent_span_id"] == "b7ad6b7169203331"


def test_shards_report_into_the_enclosing_execution_from_its_baggage(console, tmp_path):
    # A coordinating script run by `jobtrace run` runs each part as `jobtrace run --shard`.
    script = tmp_path / "migrate.sh"
    script.write_text(
        "for account in 1000001 1000002; do\n"
        f"  {JOBTRACE} run --job migrate --shard acct-$account --label account=$account -- "
        "sh -c 'test $0 != 1000002' $account\n"
        "done\nexit 0\n"
    )
    done = jobtrace_run(console.url, "--job", "migrate", "--execution-id", "mig-7", "--", "sh", str(script))
    assert done.returncode == 0, done.stderr
    shards = console.latest("shards", key="shard_id")
    assert set(shards) == {"acct-1000001", "acct-1000002"}
    assert {s["execution_id"] for s in shards.values()} == {"mig-7"}
    assert shards["acct-1000002"]["labels"] == {"account": "1000002"}
    assert shards["acct-1000002"]["status"] == "failed"
    assert shards["acct-1000001"]["status"] == "succeeded"
    execution = console.latest("executions")["mig-7"]
    assert {s["trace_id"] for s in shards.values()} == {execution["trace_id"]}
    spans = {s["span_id"]: s for s in console.spans()}
    for shard in shards.values():
        assert spans[shard["span_id"]]["attributes"]["job.shard.id"] == shard["shard_id"]
        assert spans[spans[shard["span_id"]]["parent_span_id"]]["name"] == "migrate"  # under the execution span
    assert list(console.latest("executions")) == ["mig-7"]  # shards do not report the execution


def test_schedule_options_declare_the_job_and_a_refusal_does_not_fail_it(console):
    args = ["--job", "nightly", "--schedule", "0 2 * * *", "--timezone", "Europe/Paris", "--grace", "5m"]
    done = jobtrace_run(console.url, *args, "--timeout", "30m", "--", "true")
    assert done.returncode == 0
    assert done.stderr == b""
    ((path, body),) = console.declarations()
    assert path == "/api/v1/jobs/shop/nightly"
    assert body == {
        "schedule": "0 2 * * *",
        "timezone": "Europe/Paris",
        "grace_seconds": 300,
        "max_runtime_seconds": 1800,
    }
    console.declare_status = 400
    refused = jobtrace_run(console.url, *args, "--", "true")
    assert refused.returncode == 0
    assert b"could not declare job shop/nightly: HTTP 400" in refused.stderr
    assert [r["status"] for r in console.latest("executions").values()] == ["succeeded", "succeeded"]


# --- the parts, without processes -------------------------------------------------------------------------------


def test_durations_read_seconds_and_units():
    assert parse_duration("90") == 90
    assert parse_duration("30m") == 1800
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    assert parse_duration("1.5h") == 5400
    for bad in ("", "soon", "10x", "-5", "0", "1h-5m", "nan"):
        with pytest.raises(Exception, match="duration"):
            parse_duration(bad)


def test_the_environment_carrier_round_trips_and_drops_stale_variables():
    parent = {"TRACEPARENT": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "BAGGAGE": "job.name=a"}
    context = extract_env(parent)
    span_context = trace.get_current_span(context).get_span_context()
    assert format(span_context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert baggage.get_baggage("job.name", context) == "a"
    child_env = {"PATH": "/bin", "TRACESTATE": "stale=1", "BAGGAGE": "stale=1"}
    inject_env(child_env, context=trace.set_span_in_context(trace.NonRecordingSpan(span_context)))
    assert child_env["TRACEPARENT"] == parent["TRACEPARENT"]
    assert "TRACESTATE" not in child_env  # the new context has none: the parent's must not leak through
    assert "BAGGAGE" not in child_env
    assert child_env["PATH"] == "/bin"


def test_the_tail_keeps_the_last_bytes_and_cuts_at_a_line_start():
    tail = Tail(limit=32)
    for i in range(20):
        tail.feed("stderr", f"line {i:02d}\n".encode())
    text = tail.text()
    assert text.startswith("[…]\n")
    assert text.endswith("line 19\n")
    assert all(line.startswith("line ") for line in text.splitlines()[1:])
    small = Tail(limit=1024)
    small.feed("stderr", "héllo\n".encode())
    assert small.text() == "héllo\n"
