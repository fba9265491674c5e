"""Changing a job's sampling policy: one action, used by the API and by the job page's form."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from jobs.models import Job


def set_sample_rate(job: Job, rate: float) -> Job:
    """Change the job's rate (an atomic UPDATE, no read-modify-write)."""
    now = timezone.now()
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).update(sample_rate=rate, sampling_updated_at=now, updated_at=now)
    job.sample_rate = rate
    job.sampling_updated_at = now
    return job
