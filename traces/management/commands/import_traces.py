"""`python manage.py import_traces --namespace NS FILE...`: Jaeger / OTLP / Zipkin files into a namespace."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.models import Namespace
from traces.ingest import ParseError, parse_file
from traces.store import store_spans

CHUNK = 5000


class Command(BaseCommand):
    help = (
        "Import trace files: Jaeger JSON (query API envelope, single trace, span arrays with an embedded process), "
        "Jaeger api/v3 {'result': ...}, OTLP JSON, OTLP protobuf (gzip too) and Zipkin v2 JSON. "
        "Reports what it read, stored and rejected, per file. '-' reads standard input."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--namespace", required=True, help="the namespace the spans belong to")
        parser.add_argument("files", nargs="+", metavar="FILE")

    def handle(self, *args: Any, **options: Any) -> None:
        namespace = Namespace.objects.filter(name=options["namespace"]).first()
        if namespace is None:
            raise CommandError(f"namespace {options['namespace']!r} does not exist (create_namespace first)")
        failed = []
        for name in options["files"]:
            try:
                data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
            except OSError as exc:
                failed.append(name)
                self.stderr.write(f"{name}: cannot read ({exc.strerror or exc})")
                continue
            try:
                parsed = parse_file(data)
            except ParseError as exc:
                failed.append(name)
                self.stderr.write(f"{name}: rejected, nothing stored: {exc}")
                continue
            inserted = duplicates = 0
            for i in range(0, len(parsed.spans), CHUNK):
                result = store_spans(namespace, parsed.spans[i : i + CHUNK])
                inserted += result.inserted
                duplicates += result.duplicates
            read = len(parsed.spans) + parsed.rejected
            traces = len({s.trace_id for s in parsed.spans})
            self.stdout.write(
                f"{name}: {parsed.format}: read {read} span(s) in {traces} trace(s); "
                f"stored {inserted + duplicates} ({inserted} new, {duplicates} already stored or repeated); "
                f"rejected {parsed.rejected}"
            )
            for message in parsed.errors:
                self.stdout.write(f"  rejected: {message}")
            for message in parsed.warnings:
                self.stdout.write(f"  note: {message}")
        if failed:
            raise CommandError(f"{len(failed)} of {len(options['files'])} file(s) could not be imported: {failed}")
