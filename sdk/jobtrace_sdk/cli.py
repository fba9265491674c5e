"""The `jobtrace` command (installed with the SDK): `jobtrace run --job NAME [options] -- COMMAND ARGS...`.

Everything after `--` is the command, passed on untouched; everything before it is ours. Configuration comes from
the environment: JOBTRACE_URL, JOBTRACE_TOKEN, JOBTRACE_NAMESPACE, OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_* (see
docs/instrumentation.md). The exit status is the command's (see jobtrace_sdk.command); a mistake on our side of
`--` is a usage error (exit 2) before anything runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import re
import sys
from collections.abc import Sequence
from urllib.parse import quote

from jobtrace_sdk import conventions as conv
from jobtrace_sdk.command import CAPTURED_LOGGERS, KILL_AFTER, POLICY_TIMEOUT, CommandRun, RunOutcome, RunSpec
from jobtrace_sdk.config import Config
from jobtrace_sdk.propagation import job_baggage

TRIGGERS = ("scheduled", "manual", "retry", "api", "event")
USAGE_ERROR = 2
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
SERVICE_NAME = "jobtrace-run"  # of the wrapper's own spans, unless OTEL_SERVICE_NAME says otherwise


def parse_duration(text: str) -> float:
    """Seconds from `90`, `90s`, `30m`, `1h30m`, `1.5h`, `250ms`, `2d`."""
    raw = text.strip().lower()
    try:
        seconds = float(raw)
    except ValueError:
        parts = _DURATION_PART.findall(raw)
        if not parts or "".join(n + u for n, u in parts) != raw:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a duration; write seconds (90) or units: 90s, 30m, 1h30m, 250ms, 2d"
            ) from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive duration")
    return seconds


def parse_label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not key=value")
    return key.strip(), value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobtrace", description="Jobtrace: job executions and their traces.")
    commands = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        usage="jobtrace run --job NAME [options] -- COMMAND [ARGS...]",
        help="run a command as one recorded execution",
        description=(
            "Run COMMAND as one execution of job NAME: recorded in the console (running, then succeeded, failed, "
            "timed_out or cancelled), its trace context handed to the command as TRACEPARENT/TRACESTATE/BAGGAGE. "
            "The exit status is the command's (124 after --timeout). The console being down costs at most ~2 s "
            "and a warning on stderr."
        ),
        epilog="Environment: JOBTRACE_URL, JOBTRACE_TOKEN, JOBTRACE_NAMESPACE, OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_*",
    )
    run.add_argument("--job", required=True, help="the job's name")
    run.add_argument("--namespace", help="the namespace (default: $JOBTRACE_NAMESPACE)")
    run.add_argument("--execution-id", help="this run's id (default: a new one)")
    run.add_argument("--shard", metavar="ID", help="report this run as shard ID of the execution --execution-id")
    run.add_argument(
        "--label", metavar="KEY=VALUE", type=parse_label, action="append", default=[], help="a shard's label"
    )
    run.add_argument(
        "--trigger", choices=TRIGGERS, help="why it runs (default: manual on a terminal, scheduled otherwise)"
    )
    run.add_argument("--attempt", type=_positive_int, default=1, help="the attempt number (default 1)")
    run.add_argument("--timeout", type=parse_duration, help="stop the command after this long (30m, 1h30m, 90s)")
    run.add_argument(
        "--kill-after",
        type=parse_duration,
        default=KILL_AFTER,
        help=f"after SIGTERM (timeout or cancel), SIGKILL this much later (default {KILL_AFTER:g}s)",
    )
    run.add_argument("--schedule", help='declare the job\'s schedule: cron ("0 2 * * *") or "@every 15m"')
    run.add_argument("--timezone", help="the schedule's IANA time zone (default: the console's, UTC)")
    run.add_argument("--grace", type=parse_duration, help="how late a scheduled run may start before it is missed")
    run.add_argument("-v", "--verbose", action="store_true", help="print the execution's page at the end")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if "--" in args_in:
        split = args_in.index("--")
        ours, command = args_in[:split], args_in[split + 1 :]
    else:
        ours, command = args_in, []
    args, unknown = parser.parse_known_args(ours)
    if not command:
        parser.error("give the command after --, e.g.: jobtrace run --job nightly-export -- ./export.sh")
    if unknown:
        parser.error(f"unrecognized arguments before --: {' '.join(unknown)}")
    spec = _spec(parser, args, command)
    base = Config.from_env(namespace=spec.namespace, service_name=os.environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME)
    # The whole report must fit in the run's budget (2 s): short requests, retried while the child runs.
    config = dataclasses.replace(
        base,
        policy_timeout=min(base.policy_timeout, POLICY_TIMEOUT),
        record_timeout=min(base.record_timeout, 1.0),
        record_attempts=max(base.record_attempts, 5),
        export_timeout=min(base.export_timeout, 1.0),
        record_linger=0.0,  # one run: nothing to batch, and `running` goes out as the command starts
    )
    if not config.enabled:
        _warn("JOBTRACE_URL is not set: running the command without recording it")
    outcome = CommandRun(spec, config).run()
    # The run is over: what a background export still says while the process exits is not printed after our
    # summary (it was counted in it, or it is about spans we chose not to wait for).
    for name in CAPTURED_LOGGERS:
        logger = logging.getLogger(name)
        logger.propagate = False
        logger.addHandler(logging.NullHandler())
    if config.enabled:
        _summarise(spec, config, outcome, verbose=args.verbose)
    return outcome.exit_code


def _spec(parser: argparse.ArgumentParser, args: argparse.Namespace, command: list[str]) -> RunSpec:
    if args.label and not args.shard:
        parser.error("--label needs --shard: labels are a shard's (e.g. --shard 17 --label account=1000002)")
    execution_id = args.execution_id
    if args.shard and not execution_id:
        # Inside a `jobtrace run` of the same job, the execution is the one in our BAGGAGE.
        marks = job_baggage({"baggage": os.environ.get("BAGGAGE", "")})
        if marks.get(conv.JOB_NAME) == args.job and marks.get(conv.JOB_EXECUTION_ID):
            execution_id = marks[conv.JOB_EXECUTION_ID]
        else:
            parser.error("--shard needs --execution-id (the execution the shard belongs to)")
    trigger = args.trigger or ("manual" if sys.stdin.isatty() else "scheduled")
    declaration: dict[str, object] = {}
    if args.schedule is not None:
        declaration["schedule"] = args.schedule
    if args.timezone is not None:
        declaration["timezone"] = args.timezone
    if args.grace is not None:
        declaration["grace_seconds"] = round(args.grace)
    if declaration and args.timeout is not None:
        declaration["max_runtime_seconds"] = math.ceil(args.timeout)
    return RunSpec(
        command=command,
        job=args.job,
        namespace=args.namespace or os.environ.get("JOBTRACE_NAMESPACE") or None,
        execution_id=execution_id,
        shard_id=args.shard,
        labels=dict(args.label),
        trigger=trigger,
        attempt=args.attempt,
        timeout=args.timeout,
        kill_after=args.kill_after,
        declaration=declaration,
    )


def _summarise(spec: RunSpec, config: Config, outcome: RunOutcome, *, verbose: bool) -> None:
    what = f"{spec.job} run {outcome.execution_id}" + (f" shard {spec.shard_id}" if spec.shard_id else "")
    if outcome.problems or not outcome.reported:
        first = outcome.problems[0] if outcome.problems else "not every record was sent in time"
        more = f" (and {len(outcome.problems) - 1} more)" if len(outcome.problems) > 1 else ""
        _warn(
            f"could not fully report {what} to {config.base_url}: {first}{more}; "
            f"the command's exit status is unaffected ({outcome.exit_code})"
        )
    if verbose and spec.namespace:
        page = f"/jobs/{quote(spec.namespace, safe='')}/{quote(spec.job, safe='')}/runs/{quote(outcome.execution_id)}/"
        _say(f"{outcome.status}: {config.base_url}{page}")


def _warn(message: str) -> None:
    _say(f"warning: {message}")


def _say(message: str) -> None:
    sys.stderr.write(f"jobtrace: {message}\n")
    sys.stderr.flush()


def run() -> None:
    """The console script's entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
