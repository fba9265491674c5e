"""The per-job sampling policy: reading it (scoped) and changing it (one action, used by the API and the form).

Manual runs are always sampled; every other trigger at the job's `sample_rate` (0..1). The SDK fetches the
policy from GET /api/v1/jobs/<ns>/<job>/sampling and caches it (sdk/jobtrace_sdk/sampling.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from jobs.models import Job, Namespace

DEFAULT_RATE = 1.0


class InvalidRate(ValueError):
    pass


@dataclass(frozen=True)
class Policy:
    namespace: str
    job: str
    rate: float
    updated_at: datetime | None
    default: bool  # True when the job is not known yet: the default policy applies

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "job": self.job,
            "rate": self.rate,
            "manual_runs": "always sampled",
            "updated_at": self.updated_at.isoformat().replace("+00:00", "Z") if self.updated_at else None,
            "default": self.default,
        }

    @classmethod
    def of(cls, job: Job, namespace_name: str) -> Policy:
        return cls(namespace_name, job.name, job.sample_rate, job.sampling_updated_at, default=False)

    @classmethod
    def default_for(cls, namespace: Namespace, job_name: str) -> Policy:
        return cls(namespace.name, job_name, DEFAULT_RATE, None, default=True)


def parse_rate(value: Any) -> float:
    """A number in [0, 1]; strings of numbers are accepted (form posts); anything else raises InvalidRate."""
    if isinstance(value, bool) or value is None:
        raise InvalidRate("rate must be a number between 0 and 1")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InvalidRate(f"rate must be a number between 0 and 1, not {value[:40]!r}") from None
    if not isinstance(value, int | float):
        raise InvalidRate(f"rate must be a number between 0 and 1, not {type(value).__name__}")
    rate = float(value)
    if math.isnan(rate) or rate < 0 or rate > 1:
        raise InvalidRate(f"rate must be between 0 and 1 inclusive, got {value}")
    return rate


def set_sample_rate(job: Job, rate: float) -> Job:
    """Change the job's rate (an atomic UPDATE, no read-modify-write)."""
    now = timezone.now()
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).update(sample_rate=rate, sampling_updated_at=now, updated_at=now)
    job.sample_rate = rate
    job.sampling_updated_at = now
    return job
