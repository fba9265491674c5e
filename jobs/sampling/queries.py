"""The per-job sampling policy as callers read it.

Manual runs are always sampled; every other trigger at the job's `sample_rate` (0..1). The SDK fetches the
policy from GET /api/v1/jobs/<ns>/<job>/sampling and caches it (sdk/jobtrace_sdk/sampling.py); the rate is read by
jobs/sampling/ingest.py and changed by jobs/sampling/store.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobs.models import Job, Namespace

DEFAULT_RATE = 1.0


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
