from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jobs.demo.alerts import WEBHOOK, send_alerts
from jobs.demo.runner import SCALES, Demo
from jobs.demo.server import serve_console
from jobs.demo.setup import has_data, prepare


class Command(BaseCommand):
    help = (
        "Replay weeks of realistic job history through the instrumentation SDK and the real OTLP exporter "
        "against the console (started in-process on a loopback port): the incidents of DESIGN.md and healthy "
        "jobs around them. Deterministic for a seed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--scale", choices=sorted(SCALES), default="full")
        parser.add_argument("--if-empty", action="store_true", help="do nothing when jobs already exist")
        parser.add_argument(
            "--url", default="", help="send to this running console (on the same database) instead of starting one"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_empty"] and has_data():
            self.stdout.write("demo: jobs already exist; nothing to do (--if-empty)")
            return
        started = time.monotonic()
        tokens = prepare()
        self.stdout.write(f"demo: replaying {options['scale']} history with seed {options['seed']}")
        if options["url"]:
            result = Demo(
                options["url"], tokens, seed=options["seed"], scale=options["scale"], log=self.stdout.write
            ).run()
            alerts = send_alerts(options["url"], tokens, log=self.stdout.write)
        else:
            with serve_console() as url:
                result = Demo(url, tokens, seed=options["seed"], scale=options["scale"], log=self.stdout.write).run()
                # The incidents' alerts, as Alertmanager would post them: the page a responder starts from.
                alerts = send_alerts(url, tokens, log=self.stdout.write)
        seconds = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"demo: {result.executions} executions, {result.shards} shards, {result.messages} messages "
                f"in {seconds:.0f} s"
            )
        )
        self.stdout.write(f"demo: {len(alerts)} alerts posted to {WEBHOOK}")
        if alerts:
            result.urls["alerts"] = "/alerts/"
            result.urls["first_alert"] = alerts[0]
        if result.dropped_records:
            self.stdout.write(self.style.WARNING(f"demo: {result.dropped_records} records could not be posted"))
        for what, url in result.urls.items():
            self.stdout.write(f"  {what.replace('_', ' ')}: {url}")
