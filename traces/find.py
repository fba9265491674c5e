"""Finding one's way through a big trace (pure, over a built waterfall): which spans match a find (text, errors
only, a duration threshold, one operation), which rows an "expand" mode opens, and the statistics per service and
operation (ids in names grouped, traces/names.py).

Text matched in attribute values needs the spans' attributes, which the waterfall does not carry: the caller passes
the span ids whose attributes hold the text (traces/queries.py `spans_with_text`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from traces.names import operation_name
from traces.waterfall import Waterfall

MAX_OPENED_MATCHES = 500  # matches whose ancestors a find opens (the first in tree order); the count covers all


@dataclass(frozen=True)
class Find:
    text: str = ""
    errors: bool = False
    min_duration_ns: int | None = None
    service: str = ""  # with `operation`: one operation of the statistics table (grouped name)
    operation: str = ""

    @property
    def active(self) -> bool:
        return bool(self.text or self.errors or self.min_duration_ns is not None or self.operation)


def matches(wf: Waterfall, find: Find, text_in_attributes: Iterable[str] = ()) -> list[int]:
    """Row indices matching every condition of the find, in tree order."""
    if not find.active:
        return []
    needle = find.text.casefold()
    by_attributes = {wf.index_of[s] for s in text_in_attributes if s in wf.index_of}
    out = []
    for i, r in enumerate(wf.rows):
        if find.errors and not r.is_error:
            continue
        if find.min_duration_ns is not None and r.duration_ns < find.min_duration_ns:
            continue
        if find.operation and (r.service != find.service or operation_name(r.name) != find.operation):
            continue
        if needle and not (
            needle in r.name.casefold() or needle in r.service.casefold() or needle in r.span_id or i in by_attributes
        ):
            continue
        out.append(i)
    return out


def ancestors_of(wf: Waterfall, indices: Iterable[int]) -> set[int]:
    """Every ancestor of these rows: what must be open for them to show."""
    opened: set[int] = set()
    rows = wf.rows
    for i in indices:
        p = rows[i].parent_index
        while p is not None and p not in opened:
            opened.add(p)
            p = rows[p].parent_index
    return opened


EXPAND_MODES = ("all", "errors", "none")


def expanded(wf: Waterfall, mode: str) -> set[int] | None:
    """The rows an expand mode opens: `all` every row with children, `errors` the ancestors of error spans only,
    `none` nothing (every subtree collapsed); None for the default (traces/waterfall.py `open_set`)."""
    if mode == "all":
        return {i for i, r in enumerate(wf.rows) if r.children}
    if mode == "errors":
        return ancestors_of(wf, wf.error_rows)
    if mode == "none":
        return set()
    return None


@dataclass(frozen=True)
class OperationStats:
    service: str
    name: str  # ids grouped
    count: int
    errors: int
    total_ns: int
    self_ns: int
    max_ns: int
    slowest_span: str

    @property
    def avg_ns(self) -> int:
        return self.total_ns // self.count if self.count else 0


STATS_SORTS = {
    "count": lambda s: (-s.count, s.service, s.name),
    "total": lambda s: (-s.total_ns, s.service, s.name),
    "self": lambda s: (-s.self_ns, s.service, s.name),
    "avg": lambda s: (-s.avg_ns, s.service, s.name),
    "max": lambda s: (-s.max_ns, s.service, s.name),
    "errors": lambda s: (-s.errors, -s.count, s.service, s.name),
    "name": lambda s: (s.service.casefold(), s.name.casefold()),
}


def statistics(wf: Waterfall, sort: str = "self") -> list[OperationStats]:
    """Per service and operation (ids in names grouped): span count, errors, total duration, summed self time, the
    longest span; sorted by `sort` (a key of STATS_SORTS, else self time)."""
    raw: dict[tuple[str, str], list] = {}  # by the name as sent first: ids are grouped once per distinct name
    for r in wf.rows:
        key = (r.service, r.name)
        a = raw.get(key)
        if a is None:
            raw[key] = [1, int(r.is_error), r.duration_ns, r.self_ns, r.duration_ns, r.span_id]
        else:
            a[0] += 1
            a[1] += r.is_error
            a[2] += r.duration_ns
            a[3] += r.self_ns
            if r.duration_ns > a[4]:
                a[4], a[5] = r.duration_ns, r.span_id
    acc: dict[tuple[str, str], list] = {}
    for (service, name), values in raw.items():
        key = (service, operation_name(name))
        a = acc.get(key)
        if a is None:
            acc[key] = values
        else:
            a[0] += values[0]
            a[1] += values[1]
            a[2] += values[2]
            a[3] += values[3]
            if values[4] > a[4]:
                a[4], a[5] = values[4], values[5]
    stats = [OperationStats(svc, name, *values) for (svc, name), values in acc.items()]
    return sorted(stats, key=STATS_SORTS.get(sort, STATS_SORTS["self"]))
