"""Declaring a job with its schedule: `PUT /api/v1/jobs/<ns>/<job>` (DESIGN.md "job declaration").

Only the fields given are sent: the console keeps the stored value of a field left out. The console validates them
(a bad cron expression or time zone is a 400 naming the field); this side only shapes the request, and reports the
answer as a `JobDeclaration` instead of raising, so a job that declares itself at start never fails because the
console is down or refuses.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from jobtrace_sdk.config import Config
from jobtrace_sdk.sampling import path_segment

logger = logging.getLogger("jobtrace.sdk")

# The JSON fields of a declaration, in the order the API documents them.
FIELDS = (
    "kind",
    "schedule",
    "timezone",
    "grace_seconds",
    "max_runtime_seconds",
    "owner",
    "description",
    "labels",
)


@dataclass(frozen=True)
class JobDeclaration:
    namespace: str
    job: str
    sent: dict[str, Any]  # the body sent (only the fields given)
    ok: bool
    status_code: int | None = None  # None when no answer came back (or nothing was sent)
    error: str = ""
    answer: dict[str, Any] = field(default_factory=dict)


def declaration_body(**values: Any) -> dict[str, Any]:
    """The request body: the fields that were given (None means "not given"); labels as strings."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise TypeError(f"unknown job declaration fields {unknown}; known: {', '.join(FIELDS)}")
    body: dict[str, Any] = {}
    for name in FIELDS:
        value = values.get(name)
        if value is None:
            continue
        if name == "labels":
            if not isinstance(value, Mapping):
                raise TypeError(f"labels must be a mapping of strings, not {type(value).__name__}")
            value = {str(k): str(v) for k, v in value.items()}
        body[name] = value
    return body


def declare_job(
    config: Config,
    session: requests.Session,
    namespace: str,
    job: str,
    body: dict[str, Any],
    *,
    timeout: float,
) -> JobDeclaration:
    """PUT the declaration; a failure is logged (warning) and returned, never raised."""

    def failed(error: str, status_code: int | None = None) -> JobDeclaration:
        logger.warning("jobtrace: could not declare job %s/%s: %s", namespace or "?", job, error)
        return JobDeclaration(namespace, job, body, ok=False, status_code=status_code, error=error)

    if not config.enabled:
        return failed("no console URL (JOBTRACE_URL) is configured")
    if not namespace:
        return failed("no namespace given (JOBTRACE_NAMESPACE or namespace=): the URL names it")
    # The console's id convention (path_segment): `etl/daily` stays one segment through a server that decodes once.
    url = f"{config.base_url}/api/v1/jobs/{path_segment(namespace)}/{path_segment(job)}"
    try:
        response = session.put(url, json=body, headers=config.auth_headers(), timeout=timeout)
    except requests.RequestException as exc:
        return failed(f"{type(exc).__name__}: {exc}")
    if response.status_code >= 300:
        return failed(f"HTTP {response.status_code}: {response.text[:500]}", response.status_code)
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    return JobDeclaration(
        namespace,
        job,
        body,
        ok=True,
        status_code=response.status_code,
        answer=answer if isinstance(answer, dict) else {},
    )
