"""`python manage.py relink --namespace NS [--since 7d]`: read the stored spans' job attributes again with the current
JOBTRACE_ATTRIBUTE_ALIASES and recompute their linking (traces/relink.py)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.times import parse_moment
from jobs.models import Namespace
from traces.filtersets import to_ns
from traces.relink import BATCH_SPANS, RelinkResult, relink


class Command(BaseCommand):
    help = (
        "Recompute the job attributes (with the current JOBTRACE_ATTRIBUTE_ALIASES) and the linking of the spans "
        "already stored in a namespace, in bounded batches. Run it after changing the aliases: spans are otherwise "
        "read with the aliases in force when they arrived. Safe to repeat."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--namespace", required=True, help="the namespace whose spans to relink")
        parser.add_argument(
            "--since", default="", help="only traces that started since then: RFC 3339, a date, or an age like 7d"
        )
        parser.add_argument(
            "--batch-spans", type=int, default=BATCH_SPANS, help="spans per batch (one transaction each)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        namespace = Namespace.objects.filter(name=options["namespace"]).first()
        if namespace is None:
            raise CommandError(f"namespace {options['namespace']!r} does not exist")
        since_ns = None
        if options["since"]:
            try:
                since_ns = to_ns(parse_moment(options["since"]))
            except ValueError as exc:
                raise CommandError(f"--since: {exc}") from None
        if options["batch_spans"] < 1:
            raise CommandError("--batch-spans must be at least 1")
        verbose = options["verbosity"] > 1

        def progress(done: RelinkResult) -> None:
            if verbose:
                self.stdout.write(f"  batch {done.batches}: {done.traces} traces, {done.spans} spans so far")

        result = relink(namespace, since_ns=since_ns, batch_spans=options["batch_spans"], progress=progress)
        self.stdout.write(
            f"relink {namespace.name}: {result.traces} trace(s), {result.spans} span(s) read in {result.batches} "
            f"batch(es); {result.spans_changed} span(s) got new job attributes; traces linked to an execution or "
            f"shard: {result.linked_before} before, {result.linked_after} after"
        )
