"""Status, kind and role values, with their colour and "is terminal" in one place."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    ADMIN = "admin", "Admin"

    @property
    def can_edit(self) -> bool:
        return self in (Role.EDITOR, Role.ADMIN)


class Scope(models.TextChoices):
    INGEST = "ingest", "Ingest"
    READ = "read", "Read"


class JobKind(models.TextChoices):
    STANDALONE = "standalone", "Standalone"
    BROADCAST = "broadcast", "Broadcast"
    SHARDED = "sharded", "Sharded (MapReduce)"
    HTTP = "http", "HTTP"


class Trigger(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    MANUAL = "manual", "Manual"
    RETRY = "retry", "Retry"
    API = "api", "API"
    EVENT = "event", "Event"


class RunStatus(models.TextChoices):
    """Status of an execution or a shard. It only moves forward: see `rank`."""

    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    TIMED_OUT = "timed_out", "Timed out"
    CANCELLED = "cancelled", "Cancelled"
    # No run started for a scheduled tick within the grace (jobs/schedules/): written by the monitor, never over a
    # real record; a late record for the same tick takes its place.
    MISSED = "missed", "Missed"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_failure(self) -> bool:
        return self in FAILURE_STATUSES

    @property
    def rank(self) -> int:
        """Order in which an attempt's status may move: pending < running < any terminal status."""
        return STATUS_RANK[self]

    @property
    def colour(self) -> str:
        return STATUS_COLOUR[self]


TERMINAL_STATUSES = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.CANCELLED, RunStatus.MISSED}
)
FAILURE_STATUSES = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.MISSED})
STATUS_RANK = {
    RunStatus.PENDING: 0,
    RunStatus.RUNNING: 1,
    RunStatus.SUCCEEDED: 2,
    RunStatus.FAILED: 2,
    RunStatus.TIMED_OUT: 2,
    RunStatus.CANCELLED: 2,
    RunStatus.MISSED: 2,
}
STATUS_COLOUR = {
    RunStatus.PENDING: "grey",
    RunStatus.RUNNING: "blue",
    RunStatus.SUCCEEDED: "green",
    RunStatus.FAILED: "red",
    RunStatus.TIMED_OUT: "orange",
    RunStatus.CANCELLED: "grey",
    RunStatus.MISSED: "purple",
}
# Shards and executions are listed failing first: the order of statuses on the execution page.
STATUS_ATTENTION_ORDER = [
    RunStatus.MISSED,
    RunStatus.FAILED,
    RunStatus.TIMED_OUT,
    RunStatus.RUNNING,
    RunStatus.PENDING,
    RunStatus.CANCELLED,
    RunStatus.SUCCEEDED,
]
