"""Small factory functions for tests. Each makes one real row in the real database."""

from __future__ import annotations

import itertools
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.utils import timezone

from jobs.choices import Role, RunStatus, Trigger
from jobs.models import ApiToken, Execution, Job, Membership, Namespace, Shard

_seq = itertools.count(1)


def trace_id() -> str:
    return secrets.token_hex(16)


def span_id() -> str:
    return secrets.token_hex(8)


def namespace(name: str | None = None) -> Namespace:
    return Namespace.objects.get_or_create(name=name or f"ns-{next(_seq)}")[0]


def token(ns: Namespace, scopes: list[str] | None = None) -> str:
    return ApiToken.issue(ns, scopes or ["ingest", "read"])[1]


def user(ns: Namespace | None = None, role: str = Role.VIEWER, username: str | None = None) -> AbstractUser:
    u = get_user_model().objects.create_user(username=username or f"user{next(_seq)}", password="pw-Jobtrace-1")
    if ns is not None:
        Membership.objects.create(user=u, namespace=ns, role=role)
    return u


def job(ns: Namespace, name: str | None = None, **fields: Any) -> Job:
    return Job.objects.create(namespace=ns, name=name or f"job-{next(_seq)}", **fields)


def execution(j: Job, execution_id: str | None = None, **fields: Any) -> Execution:
    started: datetime = fields.pop("started_at", timezone.now() - timedelta(minutes=5))
    defaults: dict[str, Any] = {
        "trigger": Trigger.SCHEDULED,
        "status": RunStatus.SUCCEEDED,
        "started_at": started,
    }
    defaults.update(fields)
    if defaults.get("finished_at") and defaults.get("started_at") and "duration_ms" not in fields:
        defaults["duration_ms"] = int((defaults["finished_at"] - defaults["started_at"]).total_seconds() * 1000)
    return Execution.objects.create(
        namespace_id=j.namespace_id, job=j, execution_id=execution_id or f"exec-{next(_seq)}", **defaults
    )


def shard(e: Execution, shard_id: str | None = None, **fields: Any) -> Shard:
    defaults: dict[str, Any] = {"status": RunStatus.SUCCEEDED}
    defaults.update(fields)
    return Shard.objects.create(
        namespace_id=e.namespace_id, execution=e, shard_id=shard_id or f"shard-{next(_seq)}", **defaults
    )
