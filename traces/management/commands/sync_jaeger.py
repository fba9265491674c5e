"""`python manage.py sync_jaeger --url URL [--service S] [--lookback 1h] [--follow] [--trace-id ID]`: pull traces
from Jaeger, by service and time window or by trace id."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from console.lookup import normalise_trace_id
from jobs.models import Namespace
from traces.ingest import ParseError, parse_document
from traces.jaeger import JaegerClient, JaegerError
from traces.store import store_spans

_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_INTERVAL, MAX_INTERVAL = 1, 3600


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise CommandError(f"{text!r} is not a duration like 30s, 15m, 1h or 2d")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


class Command(BaseCommand):
    help = "Pull traces from a Jaeger query service (v1 /api/traces, or v3 /api/v3/traces with --api v3)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url", default=None, help="Jaeger query service, e.g. http://jaeger:16686 (default: JAEGER_QUERY_URL)"
        )
        parser.add_argument("--namespace", default=None, help="namespace to store into (default: the only one)")
        parser.add_argument("--service", action="append", default=[], help="service to pull (repeatable; default: all)")
        parser.add_argument("--lookback", default="1h", help="time window to pull, e.g. 15m, 1h, 2d (default 1h)")
        parser.add_argument("--limit", type=int, default=100, help="traces per service and window (default 100)")
        parser.add_argument("--api", choices=["v1", "v3"], default=None, help="API flavour (default: from the URL)")
        parser.add_argument(
            "--timeout", type=float, default=None, help="seconds per request (default JAEGER_TIMEOUT_SECONDS)"
        )
        parser.add_argument("--follow", action="store_true", help="keep pulling new traces until Ctrl-C")
        parser.add_argument(
            "--trace-id", action="append", default=[], help="pull this trace (repeatable); no service window then"
        )
        parser.add_argument(
            "--interval", default="30s", help=f"--follow: time between pulls ({MIN_INTERVAL}s..{MAX_INTERVAL}s)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["url"] or settings.JAEGER_QUERY_URL
        if not url:
            raise CommandError("give --url or set JAEGER_QUERY_URL")
        namespace = self._namespace(options["namespace"])
        lookback = parse_duration(options["lookback"])
        interval = min(max(parse_duration(options["interval"]).total_seconds(), MIN_INTERVAL), MAX_INTERVAL)
        client = JaegerClient(
            url, timeout=options["timeout"] or max(settings.JAEGER_TIMEOUT_SECONDS, 10), api=options["api"]
        )
        if options["trace_id"]:
            for trace_id in options["trace_id"]:
                self._pull_trace(client, namespace, trace_id)
            return
        end = timezone.now()
        start = end - lookback
        try:
            while True:
                self._pull(client, namespace, options["service"], start, end, options["limit"])
                if not options["follow"]:
                    break
                time.sleep(interval)
                # the next window overlaps the last a little: late spans are stored, repeats change nothing
                start, end = end - timedelta(seconds=interval), timezone.now()
        except KeyboardInterrupt:
            self.stdout.write("stopped")

    def _namespace(self, name: str | None) -> Namespace:
        if name:
            namespace = Namespace.objects.filter(name=name).first()
            if namespace is None:
                raise CommandError(f"namespace {name!r} does not exist")
            return namespace
        namespaces = list(Namespace.objects.all()[:2])
        if len(namespaces) != 1:
            raise CommandError("give --namespace (there is not exactly one namespace)")
        return namespaces[0]

    def _pull_trace(self, client: JaegerClient, namespace: Namespace, raw: str) -> None:
        trace_id = normalise_trace_id(raw)
        if trace_id is None:
            raise CommandError(f"{raw!r} is not a trace id (up to 32 hex digits)")
        try:
            doc = client.get_trace(trace_id)
        except JaegerError as exc:
            raise CommandError(str(exc)) from None
        if doc is None:
            self.stdout.write(f"{trace_id}: not found in Jaeger")
            return
        self._store(namespace, trace_id, doc)

    def _store(self, namespace: Namespace, label: str, doc: Any) -> None:
        try:
            parsed = parse_document(doc)
        except ParseError as exc:
            self.stderr.write(f"{label}: unreadable answer: {exc}")
            return
        result = store_spans(namespace, parsed.spans)
        traces = len({s.trace_id for s in parsed.spans})
        self.stdout.write(
            f"{label}: read {len(parsed.spans) + parsed.rejected} span(s) in {traces} trace(s); "
            f"stored {result.stored} ({result.inserted} new); rejected {parsed.rejected}"
        )
        for message in parsed.errors:
            self.stdout.write(f"  rejected: {message}")

    def _pull(
        self,
        client: JaegerClient,
        namespace: Namespace,
        services: list[str],
        start: datetime,
        end: datetime,
        limit: int,
    ) -> None:
        try:
            names = services or client.services()
        except JaegerError as exc:
            raise CommandError(str(exc)) from None
        for service in names:
            try:
                doc = client.find_traces(service, start, end, limit)
            except JaegerError as exc:
                self.stderr.write(f"{service}: {exc}")
                continue
            if doc is None:
                self.stdout.write(f"{service}: no traces between {start:%H:%M:%S} and {end:%H:%M:%S}")
                continue
            self._store(namespace, service, doc)
