"""Self time (pure, over a waterfall's rows in tree order): each span's own time, its duration minus the union of
its children's intervals, and the self time per service and per operation, the union of their spans' own
intervals, so that overlapping siblings count their wall-clock time once (traces/waterfall.py `build` calls it)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import accumulate, chain, repeat
from operator import attrgetter, itemgetter, sub
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from traces.waterfall import Row


@dataclass(frozen=True)
class SelfTime:
    key: str  # service, or "service: operation"
    service: str
    self_ns: int
    spans: int


_first = itemgetter(0)
_operation_of = attrgetter("service", "name")
_service_of = attrgetter("service")
_interval_of = attrgetter("start_ns", "end_ns")


def self_times(rows: list[Row]) -> tuple[list[SelfTime], list[SelfTime]]:
    """Descendant counts, each row's self time, and the self time per service and per operation. A service's (an
    operation's) self time is the union of its spans' own intervals: sibling spans that overlap (parallel calls, or a
    service without an SDK that reports its steps as siblings) count the wall-clock time once, so no service shows
    more self time than the trace has. Leaves (most rows) are grouped in one tight loop; only parents run Python
    per row."""
    intervals: defaultdict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    leaves = [r for r in rows if not r.children]
    for key, own in zip(map(_operation_of, leaves), map(_interval_of, leaves), strict=True):
        intervals[key].append(own)
    counts: Counter[tuple[str, str]] = Counter(map(_operation_of, rows))
    for r in reversed([r for r in rows if r.children]):  # children come after their parent in tree order
        r.descendants = len(r.children) + sum(rows[c].descendants for c in r.children)
        own_intervals = _self_intervals(r, rows)
        r.self_ns = sum(e - s for s, e in own_intervals)
        intervals[(r.service, r.name)].extend(own_intervals)
    service_counts: Counter[str] = Counter(map(_service_of, rows))
    by_service: dict[str, list[list[tuple[int, int]]]] = {}
    self_by_operation: list[SelfTime] = []
    for (svc, op), ivs in intervals.items():
        ivs.sort(key=_first)
        self_by_operation.append(SelfTime(f"{svc}: {op}", svc, _union_sorted(ivs), counts[(svc, op)]))
        by_service.setdefault(svc, []).append(ivs)
    self_by_service: list[SelfTime] = []
    for svc, lists in by_service.items():
        together = [iv for ivs in lists for iv in ivs]
        together.sort(key=_first)  # runs already sorted: a merge
        self_by_service.append(SelfTime(svc, svc, _union_sorted(together), service_counts[svc]))
    self_by_service.sort(key=lambda t: (-t.self_ns, t.key))
    self_by_operation.sort(key=lambda t: (-t.self_ns, t.key))
    return self_by_service, self_by_operation


def _self_intervals(row: Row, rows: list[Row]) -> list[tuple[int, int]]:
    """The parts of the span's interval that none of its children covers (its duration minus the union of its
    children's intervals, clipped to the span). Children are in start order (tree order), and clipping keeps it."""
    lo, hi = row.start_ns, row.end_ns
    gaps: list[tuple[int, int]] = []
    cursor = lo
    for c in row.children:
        child = rows[c]
        s = child.start_ns if child.start_ns > lo else lo
        e = child.end_ns if child.end_ns < hi else hi
        if e <= s:
            continue
        if s > cursor:
            gaps.append((cursor, s))
        if e > cursor:
            cursor = e
    if hi > cursor:
        gaps.append((cursor, hi))
    return gaps


def _union(intervals: list[tuple[int, int]]) -> int:
    """The length of the union of intervals."""
    return _union_sorted(sorted(intervals, key=_first))


def _union_sorted(intervals: list[tuple[int, int]]) -> int:
    """The length of the union of intervals sorted by start (the order of equal starts does not matter): each
    interval adds what of it ends after every earlier one ended (builtins mapped over the lists, no Python loop)."""
    if not intervals:
        return 0
    starts, ends = zip(*intervals, strict=True)
    reached = accumulate(ends, max)  # the furthest end so far
    before = chain((starts[0],), reached)  # ...before each interval
    return sum(map(max, map(sub, ends, map(max, starts, before)), repeat(0)))
