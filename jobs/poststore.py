"""Post-store steps: what follows a write, registered by the feature that owns it, run inside the write's transaction
in a fixed order.

Two writers publish what they stored: the record writer (jobs/store.py: executions and shards) to `record_steps`
here, the span writer (traces/store.py) to `span_steps` (traces/poststore.py). A step is a function of one argument,
what the write stored. It runs inside the writer's transaction, after the rows are written: what it writes commits
with them, and a step that fails rolls the whole write back (the client is answered an error and retries; ingest is
idempotent), so nothing is ever answered as stored that is not.

Steps run by ascending `order`. Each app registers the steps of its features in its AppConfig.ready():

- 100 `linking` (traces/linking.py, registered in traces/apps.py): after records, re-link the spans that name them;
  after spans, recompute the owners (execution, shard) of the touched traces.
- 150 `log linking` (traces/logs/linking.py, registered in traces/apps.py): after records, re-link the log records
  that name them; after spans, the log records of the touched traces follow their spans' and traces' owners.
- 200 `message envelopes` (jobs/causality/store.py, registered in jobs/apps.py): Message rows for the envelopes the
  executions or the stored spans carry, so the id lookup finds a message id seen only there.
- 300 `missed ticks` (jobs/schedules/monitor.py, registered in jobs/apps.py): after records, a run of a scheduled
  job takes the place of its tick's missed row (under the job's schedule-state lock), and is noted late.

A new step is a function in its feature's folder and one `register` call in its app's ready(); its order puts it
after the steps it relies on (anything that needs the spans' owners comes after linking).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from jobs.models import Execution, Shard

T = TypeVar("T")


class Steps(Generic[T]):
    """The ordered steps that follow one kind of write."""

    def __init__(self, written: str) -> None:
        self.written = written
        self._steps: dict[str, tuple[int, Callable[[T], object]]] = {}
        self._ordered: list[Callable[[T], object]] = []

    def register(self, name: str, step: Callable[[T], object], *, order: int) -> None:
        """Add a step (or replace the one of that name). Two steps never share an order: which runs first is said."""
        for other, (taken, _) in self._steps.items():
            if taken == order and other != name:
                raise ValueError(f"order {order} after {self.written} is taken by {other!r}; pick another for {name!r}")
        self._steps[name] = (order, step)
        self._ordered = [s for _, s in sorted(self._steps.values(), key=lambda entry: entry[0])]

    def unregister(self, name: str) -> None:
        self._steps.pop(name, None)
        self._ordered = [s for _, s in sorted(self._steps.values(), key=lambda entry: entry[0])]

    def names(self) -> list[str]:
        """The steps' names, in the order they run."""
        return [name for name, _ in sorted(self._steps.items(), key=lambda item: item[1][0])]

    def run(self, stored: T) -> None:
        """Every step, in order; the caller holds the transaction."""
        for step in self._ordered:
            step(stored)


@dataclass(frozen=True)
class StoredRecords:
    """What one upsert of execution or shard records created or changed (unchanged rows are not here)."""

    executions: Sequence[Execution]  # read whole; for a shard upsert, the placeholder executions it created
    shards: Sequence[Shard]  # built from RETURNING: ids, namespace, execution, shard id, status, attempt, trace/span id


record_steps: Steps[StoredRecords] = Steps("execution and shard records")
