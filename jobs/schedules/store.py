"""Declaring a job: one upsert by (namespace, name) that writes only the fields given."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from jobs.models import Job, Namespace
from jobs.schedules.ingest import Declaration


def declare_job(namespace: Namespace, name: str, declaration: Declaration) -> tuple[Job, bool]:
    """Create or update the job (INSERT ... ON CONFLICT DO UPDATE of the given fields); returns (job, created)."""
    now = timezone.now()
    with transaction.atomic():
        created = not Job.objects.filter(namespace=namespace, name=name).exists()  # the answer's 201/200 only
        Job.objects.bulk_create(
            [Job(namespace=namespace, name=name, created_at=now, updated_at=now, **declaration.values)],
            update_conflicts=True,
            unique_fields=["namespace", "name"],
            update_fields=[*declaration.values, "updated_at"],
        )
    return Job.objects.select_related("namespace").get(namespace=namespace, name=name), created
