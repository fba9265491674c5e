"""The per-job sampling policy: fetched from the console, cached, and turned into one decision per execution.

Manual runs are always sampled; every other trigger is sampled at the job's rate. When the console cannot be
reached the last known policy is used, else the default (rate 1.0: keep everything), and the failure is
cached for the TTL too, so a console that is down costs each job at most one short timeout.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from dataclasses import dataclass
from urllib.parse import quote

import requests

from jobtrace_sdk.config import Config

logger = logging.getLogger("jobtrace.sdk")

DEFAULT_RATE = 1.0
ALWAYS_SAMPLED_TRIGGERS = frozenset({"manual"})


@dataclass(frozen=True)
class SamplingPolicy:
    rate: float = DEFAULT_RATE
    source: str = "default"  # "console", "default" or "stale" (the last known policy, the console unreachable)


def decide(trigger: str, policy: SamplingPolicy, rng: random.Random | None = None) -> bool:
    """Manual runs always; otherwise with probability `policy.rate` (rate 0: never, rate 1: always)."""
    if trigger in ALWAYS_SAMPLED_TRIGGERS:
        return True
    if policy.rate <= 0:
        return False
    if policy.rate >= 1:
        return True
    return (rng or random).random() < policy.rate


def path_segment(value: str) -> str:
    """An id as the console's URLs hold it (the console's console/converters.py): `%` and `/` escaped as %25 and %2F,
    then URL-encoded, so `etl/daily` stays one segment (`etl%252Fdaily`) through servers that decode the path once."""
    text = value.replace("%", "%25").replace("/", "%2F")
    return quote(text.replace(".", "%2E") if text in (".", "..") else text, safe="")


class PolicyCache:
    """GET /api/v1/jobs/<ns>/<job>/sampling, kept for `config.policy_ttl` seconds per job."""

    def __init__(self, config: Config, session: requests.Session | None = None) -> None:
        self.config = config
        self._session = session or requests.Session()
        self._entries: dict[tuple[str, str], tuple[float, SamplingPolicy]] = {}
        self._lock = threading.Lock()
        self.fetches = 0
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: (cache := ref()) is not None and cache._after_fork())

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._session = requests.Session()

    def get(self, namespace: str, job: str) -> SamplingPolicy:
        key = (namespace, job)
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.config.policy_ttl:
            return entry[1]
        policy = self._fetch(namespace, job, previous=entry[1] if entry else None)
        with self._lock:
            self._entries[key] = (time.monotonic(), policy)
        return policy

    def invalidate(self) -> None:
        with self._lock:
            self._entries.clear()

    def _fetch(self, namespace: str, job: str, previous: SamplingPolicy | None) -> SamplingPolicy:
        fallback = SamplingPolicy(previous.rate, "stale") if previous else SamplingPolicy()
        if not self.config.enabled or not namespace:
            return fallback
        url = f"{self.config.base_url}/api/v1/jobs/{path_segment(namespace)}/{path_segment(job)}/sampling"
        self.fetches += 1
        try:
            response = self._session.get(url, headers=self.config.auth_headers(), timeout=self.config.policy_timeout)
        except requests.RequestException as exc:
            logger.warning(
                "jobtrace: sampling policy of %s/%s unavailable (%s); using rate %s",
                namespace,
                job,
                type(exc).__name__,
                fallback.rate,
            )
            return fallback
        if response.status_code != 200:
            logger.warning(
                "jobtrace: sampling policy of %s/%s: HTTP %s; using rate %s",
                namespace,
                job,
                response.status_code,
                fallback.rate,
            )
            return fallback
        try:
            rate = float(response.json()["rate"])
        except (ValueError, KeyError, TypeError):
            logger.warning(
                "jobtrace: sampling policy of %s/%s is not understood; using rate %s", namespace, job, fallback.rate
            )
            return fallback
        return SamplingPolicy(min(max(rate, 0.0), 1.0), "console")
