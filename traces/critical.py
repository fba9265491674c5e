"""The critical path of a trace's waterfall (pure): which spans the trace's end waited on, and how much of each
span's own time lies on that path, so the trace page lists the spans that made the trace long and not the parents
that only waited for them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from traces.waterfall import Row, Waterfall


def critical_path_times(rows: list[Row]) -> dict[int, int]:
    """Jaeger's rule: from the longest root, the last-finishing child (ends clipped to the parent), then the child
    that finished before that one started, and so on; each chosen child's own critical path is part of the path.
    Returns each span on the path with its own time on it: its interval minus what its chosen children cover."""
    if not rows:
        return {}
    roots = [i for i, r in enumerate(rows) if r.parent_index is None]
    root = max(roots, key=lambda i: (rows[i].duration_ns, -i))
    on_path: dict[int, int] = {}
    work = [root]  # explicit stack: a chain of 10,000 spans must not recurse
    while work:
        i = work.pop()
        row = rows[i]
        cursor = row.end_ns
        covered = 0
        for c in sorted(row.children, key=lambda c: (min(rows[c].end_ns, row.end_ns), -c), reverse=True):
            child = rows[c]
            end = min(child.end_ns, row.end_ns)
            if end <= cursor:
                work.append(c)
                covered += max(end - max(child.start_ns, row.start_ns), 0)
                cursor = child.start_ns
                if cursor <= row.start_ns:
                    break
        on_path[i] = max(row.duration_ns - covered, 0)
    return on_path


@dataclass(frozen=True)
class CriticalStep:
    index: int
    own_ns: int  # the span's own time on the critical path
    share: float  # of the trace's duration


def critical_steps(wf: Waterfall, *, min_share: float = 0.001) -> list[CriticalStep]:
    """The spans whose own time is on the critical path (those that only waited for a child on it are left out),
    in path order; below `min_share` of the trace is left out too (rounding noise of a few microseconds)."""
    total = max(wf.duration_ns, 1)
    times = critical_path_times(wf.rows)
    return [
        CriticalStep(i, own, own / total) for i, own in sorted(times.items()) if own > 0 and own / total >= min_share
    ]
