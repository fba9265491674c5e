"""Python logging inside an execution or shard is exported as OTLP log records stamped with the run's trace and
span ids and job attributes; outside one nothing is; `jobtrace run`'s output lines are records too, bounded."""

from __future__ import annotations

import logging
import os
import sys

from jobtrace_sdk import Jobtrace
from jobtrace_sdk.command import CommandRun, RunSpec
from jobtrace_sdk.config import Config
from jobtrace_sdk.testing import CaptureConsole

try:
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter as InMemoryLogExporter
except ImportError:  # SDK before 1.39
    from opentelemetry.sdk._logs.export import InMemoryLogExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

log = logging.getLogger("shop.nightly")


def _records(exporter: InMemoryLogExporter) -> list:
    return [getattr(r, "log_record", r) for r in exporter.get_finished_logs()]


def test_logging_inside_an_execution_and_a_shard_is_exported_with_their_ids():
    spans, logs = InMemorySpanExporter(), InMemoryLogExporter()
    jt = Jobtrace(url="", namespace="shop", service_name="worker", exporter=spans, log_exporter=logs, batch_spans=False)
    log.setLevel(logging.INFO)
    try:
        log.info("before any execution")
        with jt.execution("nightly-export", execution_id="run-1") as run:
            log.info("starting %d shards", 2)
            with run.shard("s-1") as shard:
                log.warning("slow row", extra={"row": 7})
                try:
                    raise ValueError("field too long")
                except ValueError:
                    log.exception("copy failed")
            log.debug("below the level: not sent")
        log.info("after")
    finally:
        jt.shutdown()
        log.setLevel(logging.NOTSET)
    records = _records(logs)
    assert [r.body for r in records] == ["starting 2 shards", "slow row", "copy failed"]
    started, slow, failed = records
    assert format(started.trace_id, "032x") == run.trace_id
    assert format(started.span_id, "016x") == run.span_id
    assert format(slow.span_id, "016x") == shard.span_id
    assert started.attributes["job.execution.id"] == "run-1"
    assert started.attributes["job.name"] == "nightly-export"
    assert "job.shard.id" not in started.attributes
    assert slow.attributes["job.shard.id"] == "s-1"
    assert slow.attributes["row"] == 7
    assert (slow.severity_text, slow.severity_number.value) == ("WARNING", 13)
    assert failed.severity_number.value == 17
    assert failed.attributes["exception.type"] == "ValueError"
    assert "field too long" in failed.attributes["exception.stacktrace"]
    assert logging.getLogger().handlers.count(jt._log_handler) == 0  # removed at shutdown


def test_jobtrace_run_sends_the_commands_output_lines_bounded():
    script = "import sys\nfor i in range(30): print('line', i, flush=True)\nprint('boom', file=sys.stderr)\nsys.exit(3)"
    with CaptureConsole(default_rate=1.0) as console:
        config = Config(url=console.url, token="t", namespace="shop", batch_spans=False, max_output_lines=10)
        spec = RunSpec(command=[sys.executable, "-c", script], job="export", execution_id="run-9")
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            outcome = CommandRun(spec, config, stdout_fd=null, stderr_fd=null).run()
        finally:
            os.close(null)
        assert outcome.exit_code == 3
        bodies = console.log_bodies()
    # stdout and stderr are read by two threads, so which stream's line is counted first is not fixed: the first 10
    # lines (of either) are sent, stdout's in their order, and the rest is counted in one closing record
    sent = bodies[:10]
    from_stdout = [b for b in sent if b != "boom"]
    assert from_stdout == [f"line {i}" for i in range(len(from_stdout))]
    assert len(from_stdout) >= 9
    assert len(bodies) == 11
    assert "output cut: 10 lines sent, 21 more not sent" in bodies[-1]
