"""Linking spans to executions and shards (DESIGN.md's linking contract). Stub until span ingest lands."""

from __future__ import annotations

from collections.abc import Sequence

from jobs.models import Execution, Shard


def on_records_changed(executions: Sequence[Execution], shards: Sequence[Shard]) -> None:
    """Called by the record writers after executions/shards were upserted: re-link spans that name them."""
    return None
