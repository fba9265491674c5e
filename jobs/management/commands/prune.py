"""`python manage.py prune`: apply every namespace's retention now (also run from cron; see jobs/retention/)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from jobs.retention.prune import run


class Command(BaseCommand):
    help = "Apply retention: drop expired span partitions (or delete in batches), prune old records."

    def handle(self, *args: Any, **options: Any) -> None:
        for line in run().lines():
            self.stdout.write(line)
