"""python manage.py monitor: find missed, late and stuck runs from the declared schedules, and send them out.

Checks every JOBTRACE_MONITOR_INTERVAL_SECONDS (5) until stopped (SIGTERM/SIGINT end it between checks);
`--once` checks once and exits. Several may run (one per replica): jobs/schedules/monitor.py says how they share.
At start and then hourly it also creates the days ahead of the span and log partitions (traces/retention.py
`ensure_partitions`, PostgreSQL; a catalog read when none is missing), so no write waits to create its day.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils import timezone

from jobs.schedules.monitor import run_check, set_statement_timeout
from jobs.schedules.notify import send_due
from traces.retention import ensure_partitions

PARTITIONS_EVERY_SECONDS = 3600.0


class Command(BaseCommand):
    help = "Watch declared schedules: missed, late and stuck runs, sent to Alertmanager or a webhook."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="check once and exit")
        parser.add_argument("--interval", type=float, default=None, help="seconds between checks")
        parser.add_argument("--quiet-start", action="store_true", help="no start-up line (make run)")

    def handle(self, *args: Any, **options: Any) -> None:
        interval = options["interval"] or settings.JOBTRACE_MONITOR_INTERVAL_SECONDS
        stopping = {"now": False}

        def stop(signum: int, frame: Any) -> None:
            stopping["now"] = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if not options["once"] and not options["quiet_start"]:
            self.stdout.write(f"monitor: checking every {interval:g} s", ending="\n")
            self.stdout.flush()
        partitions_due = 0.0
        while True:
            started = time.monotonic()
            try:
                close_old_connections()
                set_statement_timeout(settings.JOBTRACE_MONITOR_STATEMENT_TIMEOUT_SECONDS)
                now = timezone.now()
                if started >= partitions_due:
                    created = ensure_partitions()
                    partitions_due = started + PARTITIONS_EVERY_SECONDS
                    if created:
                        self.stdout.write(f"monitor: partitions created: {', '.join(created)}")
                report = run_check(now)
                sent = send_due(now)
                if report.missed or report.stuck or report.resolved or sent or options["once"]:
                    self.stdout.write(
                        f"monitor: {report.jobs_checked} jobs checked, {report.missed} missed, {report.stuck} stuck, "
                        f"{report.resolved} resolved, {sent} notices sent"
                    )
                    self.stdout.flush()
            except Exception as exc:  # a database outage: say so and try again at the next check
                if options["once"]:
                    raise
                self.stderr.write(f"monitor: check failed: {type(exc).__name__}: {exc}")
            if options["once"] or stopping["now"]:
                return
            while not stopping["now"] and time.monotonic() - started < interval:
                time.sleep(0.2)
            if stopping["now"]:
                return
