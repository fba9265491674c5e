"""`jobtrace run`: any command as one execution (or one shard of an execution), bound to a trace.

The wrapper starts the execution's root span (continuing a TRACEPARENT it was itself given), hands that context to
the child as TRACEPARENT / TRACESTATE / BAGGAGE (with the job marks as baggage), runs the child in its own process
group, copies its output through unchanged (output.py), forwards SIGTERM / SIGINT / SIGHUP / SIGQUIT to the group
(and SIGKILLs it `kill_after` seconds later), enforces `timeout`, and records how the run ended.

It never harms the job: the exit code is the child's (124 after a timeout, as timeout(1) does; 128+N when the
child died of signal N; 127/126 when the command could not be started), and the console costs the job a bounded
delay in total (`budget`, 2 s): the sampling-policy fetch before the child starts (at most 1 s), and the final
flush after it exits (what is left). Records are posted, and retried, in the background while the child runs.
Anything that went wrong with the console is collected as `problems` rather than printed between the child's lines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context

from jobtrace_sdk.client import Jobtrace
from jobtrace_sdk.config import Config
from jobtrace_sdk.declare import JobDeclaration
from jobtrace_sdk.logs import OutputLogs
from jobtrace_sdk.output import STDERR, STDOUT, OutputPump, Sink, Tail
from jobtrace_sdk.propagation import extract_env, inject_env
from jobtrace_sdk.runs import ExecutionRun, ShardRun, _hex_ids

REPORT_BUDGET = 2.0  # seconds the console may cost a run in all (policy fetch + final flush)
POLICY_TIMEOUT = 1.0  # of which the sampling-policy fetch before the child starts, at most
KILL_AFTER = 10.0
EXIT_TIMED_OUT = 124  # as timeout(1)
EXIT_CANNOT_EXECUTE = 126
EXIT_NOT_FOUND = 127
CANCEL_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
FORWARD_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)
CAPTURED_LOGGERS = ("jobtrace.sdk", "opentelemetry", "urllib3")


@dataclass(frozen=True)
class RunSpec:
    command: Sequence[str]
    job: str
    namespace: str | None = None
    execution_id: str | None = None
    shard_id: str | None = None  # report a shard of `execution_id` (the execution's own record is not sent)
    labels: dict[str, str] = field(default_factory=dict)
    trigger: str = "scheduled"
    attempt: int = 1
    timeout: float | None = None  # seconds; then SIGTERM, and SIGKILL `kill_after` later
    kill_after: float = KILL_AFTER
    declaration: dict[str, Any] = field(default_factory=dict)  # fields for Jobtrace.declare_job; empty: none


@dataclass
class RunOutcome:
    exit_code: int
    status: str
    error: str
    execution_id: str
    shard_id: str | None
    trace_id: str
    sampled: bool
    reported: bool  # every record and span reached the console within the budget
    problems: list[str]
    declaration: JobDeclaration | None = None
    duration: float = 0.0  # the child's wall time, seconds


class CommandRun:
    """One run of a command. `run()` must be called from the main thread (it handles signals)."""

    def __init__(
        self,
        spec: RunSpec,
        config: Config,
        *,
        budget: float = REPORT_BUDGET,
        stdout_fd: int = 1,
        stderr_fd: int = 2,
        sinks: dict[str, Sequence[Sink]] | None = None,
    ) -> None:
        self.spec = spec
        self.config = config
        self.budget = budget
        self.tail = Tail()
        # Each output line also goes to the console as a log record of the run (bounded: config.max_output_lines).
        self.output_logs = OutputLogs(config.max_output_lines)
        subscribed = {
            STDOUT: [*(sinks or {}).get(STDOUT, ()), self.output_logs],
            STDERR: [*(sinks or {}).get(STDERR, ()), self.tail, self.output_logs],
        }
        self.pump = OutputPump(subscribed, stdout_fd=stdout_fd, stderr_fd=stderr_fd)
        self.proc: subprocess.Popen[bytes] | None = None
        self.cancelled_by: int | None = None
        self.timed_out = False
        self.killed = False
        self._kill_at: float | None = None
        self._early_signals: list[int] = []

    # --- the run ----------------------------------------------------------------------------------------------

    def run(self) -> RunOutcome:
        problems = _ProblemLog()
        with problems.capturing():
            return self._run(problems)

    def _run(self, problems: _ProblemLog) -> RunOutcome:
        began = time.monotonic()
        spec = self.spec
        jt = Jobtrace(self.config, resource_attributes={"host.name": self.config.worker})
        declared: dict[str, JobDeclaration] = {}
        declaring = None
        if spec.declaration:

            def declare() -> None:
                declared["it"] = jt.declare_job(
                    spec.job, **spec.declaration, namespace=spec.namespace, timeout=self.budget
                )

            declaring = threading.Thread(target=declare, name="jobtrace-declare", daemon=True)
            declaring.start()
        previous = self._install_signal_handlers()
        try:
            record: ExecutionRun | ShardRun | None
            try:
                record = self._open(jt)
            except Exception as exc:  # a fault of ours never stops the command: it runs unrecorded
                problems.add(f"could not start the execution record ({type(exc).__name__}: {exc})")
                record = None
            env = inject_env(dict(os.environ), context=otel_context.get_current())
            if record is not None:
                self.output_logs.bind(jt.log_provider, record.span, _job_attributes(record))
            started = time.monotonic()
            pre_spent = started - began
            exit_code, status, error = self._spawn_and_wait(env)
            duration = time.monotonic() - started
            self.output_logs.close()
            if record is not None:
                try:
                    self._close(record, exit_code, status, error)
                except Exception as exc:
                    problems.add(f"could not finish the execution record ({type(exc).__name__}: {exc})")
            # Until the report is sent (or the budget is spent), signals are still forwarded, not fatal.
            deadline = time.monotonic() + max(self.budget - pre_spent, 0.1)
            # The record first, then the spans: one request at a time (a console on SQLite has one writer). No more
            # back-off waits: a console that refused a moment ago is not waited for.
            jt.records.hurry()
            records_sent = jt.records.flush(timeout=max(deadline - time.monotonic(), 0.0))
            # Records the console refused (down, or not our token) say what the spans would meet: not waited for.
            left = max(deadline - time.monotonic(), 0.0) if jt.records.stats.dropped == 0 else 0.0
            flushed = jt.shutdown(timeout=left) and records_sent
            if declaring is not None:
                declaring.join(max(deadline - time.monotonic(), 0.0))
        finally:
            self._restore_signal_handlers(previous)
        reported = flushed and record is not None and jt.records.stats.dropped == 0 and self.config.enabled
        return RunOutcome(
            exit_code=exit_code,
            status=status,
            error=error,
            execution_id=_execution_of(record).execution_id if record is not None else "",
            shard_id=spec.shard_id,
            trace_id=record.trace_id if record is not None else "",
            sampled=_execution_of(record).sampled if record is not None else False,
            reported=reported,
            problems=problems.messages,
            declaration=declared.get("it"),
            duration=duration,
        )

    def _open(self, jt: Jobtrace) -> ExecutionRun | ShardRun:
        """Start the execution (or the shard): its span is current and its `running` record queued."""
        spec = self.spec
        parent = extract_env()
        options: dict[str, Any] = {
            "execution_id": spec.execution_id or uuid.uuid4().hex,
            "trigger": spec.trigger,
            "attempt": spec.attempt,
            "namespace": spec.namespace,
        }
        if spec.shard_id is None:
            run = jt.execution(spec.job, context=parent, **options)
            return run.__enter__()
        execution = jt.execution(spec.job, **options)
        # The execution is reported by whoever coordinates it; this process reports one shard of it.
        execution.joined = True
        execution.context = parent
        execution.span = trace.get_current_span(parent)
        if execution.span.get_span_context().is_valid:
            execution.trace_id, execution.span_id = _hex_ids(execution.span)
            execution.sampled = execution.span.get_span_context().trace_flags.sampled
        else:
            execution.sampled = execution._decide(Context())
        shard = execution.shard(spec.shard_id, labels=spec.labels, span_name=f"{spec.job} shard {spec.shard_id}")
        return shard.__enter__()

    def _close(self, record: ExecutionRun | ShardRun, exit_code: int, status: str, error: str) -> None:
        record.span.set_attribute("process.exit.code", exit_code)
        if status != "succeeded":
            record.fail(error, status=status)
        record.__exit__(None, None, None)

    def _spawn_and_wait(self, env: dict[str, str]) -> tuple[int, str, str]:
        """Run the child to its end: (exit code, status, error)."""
        spec = self.spec
        early = [s for s in self._early_signals if s in CANCEL_SIGNALS]
        if early:
            return 128 + early[0], "cancelled", f"cancelled by {_signal_name(early[0])} before the command started"
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - running the user's command is the point
                list(spec.command),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group: signals go to all of it, once
            )
        except FileNotFoundError as exc:
            return EXIT_NOT_FOUND, "failed", f"command not found: {spec.command[0]} ({exc.strerror})"
        except OSError as exc:
            return EXIT_CANNOT_EXECUTE, "failed", f"cannot run {spec.command[0]}: {exc.strerror or exc}"
        self.pump.start(self.proc.stdout, self.proc.stderr)
        for signum in self._early_signals:
            self._forward(signum)
        returncode = self._wait(self.proc)
        self.pump.drain()
        exit_code = 128 - returncode if returncode < 0 else returncode
        killed = f"; SIGKILL {_seconds(spec.kill_after)} later" if self.killed else ""
        if self.timed_out:
            status, exit_code = "timed_out", EXIT_TIMED_OUT
            error = f"timed out after {_seconds(spec.timeout or 0)} (SIGTERM sent{killed})"
        elif self.cancelled_by is not None:
            status = "cancelled"
            error = f"cancelled by {_signal_name(self.cancelled_by)} (forwarded{killed}); exit code {exit_code}"
        elif returncode == 0:
            return 0, "succeeded", ""
        elif returncode < 0:
            status, error = "failed", f"killed by {_signal_name(-returncode)} (exit code {exit_code})"
        else:
            status, error = "failed", f"exit code {returncode}"
        tail = self.tail.text()
        if tail.strip():
            error = f"{error}\n--- stderr (last {self.tail.limit // 1024} KiB) ---\n{tail}"
        return exit_code, status, error

    def _wait(self, proc: subprocess.Popen[bytes]) -> int:
        spec = self.spec
        timeout_at = time.monotonic() + spec.timeout if spec.timeout else None
        with _ChildWaiter(proc) as waiter:
            while True:
                deadlines = [d for d in (timeout_at, self._kill_at) if d is not None]
                wait_for = max(min(deadlines) - time.monotonic(), 0.0) if deadlines else None
                if waiter.wait(wait_for):
                    return proc.returncode
                now = time.monotonic()
                if self._kill_at is not None and now >= self._kill_at:
                    self.killed = True
                    self._kill_at = None
                    self._signal_group(signal.SIGKILL)
                if timeout_at is not None and now >= timeout_at:
                    timeout_at = None
                    self.timed_out = True
                    self._signal_group(signal.SIGTERM)
                    if self._kill_at is None:
                        self._kill_at = now + spec.kill_after

    # --- signals ----------------------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> dict[int, Any]:
        previous = {}
        for signum in (*CANCEL_SIGNALS, *FORWARD_SIGNALS):
            previous[signum] = signal.signal(signum, self._on_signal)
        return previous

    def _restore_signal_handlers(self, previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.proc is None:
            self._early_signals.append(signum)
            return
        self._forward(signum)

    def _forward(self, signum: int) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self._signal_group(signum)
        if signum in CANCEL_SIGNALS:
            if self.cancelled_by is None:
                self.cancelled_by = signum
            if self._kill_at is None:
                self._kill_at = time.monotonic() + self.spec.kill_after

    def _signal_group(self, signum: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signum)


class _ChildWaiter:
    """Sleeps until the child exits, a signal arrives, or a deadline passes, without polling: a pidfd (Linux 5.3+)
    and Python's signal wakeup fd in one selector. Elsewhere, short waits in a loop."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.selector: selectors.BaseSelector | None = None
        self._fds: list[int] = []
        self._previous_wakeup = -1
        try:
            pidfd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            return
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        self._fds = [pidfd, wake_r, wake_w]
        self._previous_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(pidfd, selectors.EVENT_READ)
        self.selector.register(wake_r, selectors.EVENT_READ)

    def wait(self, timeout: float | None) -> bool:
        """True once the child exited (and was reaped)."""
        if self.proc.poll() is not None:
            return True
        if self.selector is None:
            try:
                self.proc.wait(timeout=0.1 if timeout is None else min(timeout, 0.1))
            except subprocess.TimeoutExpired:
                return False
            return True
        self.selector.select(timeout)
        try:
            while os.read(self._fds[1], 512):
                pass
        except BlockingIOError:
            pass
        return self.proc.poll() is not None

    def __enter__(self) -> _ChildWaiter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.selector is not None:
            signal.set_wakeup_fd(self._previous_wakeup)
            self.selector.close()
        for fd in self._fds:
            os.close(fd)


class _ProblemLog(logging.Handler):
    """Warnings of the SDK, the OTLP exporter and urllib3 during a run, kept (deduplicated, first lines only) for
    one summary at the end instead of log lines interleaved with the child's output."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a malformed log call must not break the run
            text = str(record.msg)
        line = text.strip().splitlines()[0] if text.strip() else record.name
        self.add(line.removeprefix("jobtrace: "))

    def add(self, line: str) -> None:
        if line not in self.messages and len(self.messages) < 20:
            self.messages.append(line)

    def capturing(self) -> _Capturing:
        return _Capturing(self)


class _Capturing:
    def __init__(self, handler: _ProblemLog) -> None:
        self.handler = handler
        self.saved: list[tuple[logging.Logger, bool, int]] = []

    def __enter__(self) -> _ProblemLog:
        for name in CAPTURED_LOGGERS:
            logger = logging.getLogger(name)
            self.saved.append((logger, logger.propagate, logger.level))
            logger.addHandler(self.handler)
            logger.propagate = False
            if logger.level == logging.NOTSET or logger.level > logging.WARNING:
                logger.setLevel(logging.WARNING)
        return self.handler

    def __exit__(self, *exc: object) -> None:
        for logger, propagate, level in self.saved:
            logger.removeHandler(self.handler)
            logger.propagate = propagate
            logger.setLevel(level)


def _job_attributes(record: ExecutionRun | ShardRun) -> dict[str, Any]:
    """The job.* attributes the run's output lines carry (so they link even without their spans)."""
    attributes = dict(_execution_of(record).job_attributes())
    if isinstance(record, ShardRun):
        attributes["job.shard.id"] = record.shard_id
    return {
        k: v for k, v in attributes.items() if k in ("job.namespace", "job.name", "job.execution.id", "job.shard.id")
    }


def _execution_of(record: ExecutionRun | ShardRun) -> ExecutionRun:
    return record if isinstance(record, ExecutionRun) else record.execution


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _seconds(value: float) -> str:
    return f"{value:g} s"
