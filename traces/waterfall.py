"""The waterfall of one trace, computed from plain span tuples (no database, no HTTP).

`build(spans)` puts spans in tree order (children by start time), gives each its depth, finds the critical path
(the chain of spans the trace's end waited on), self time per service and per operation, the slowest spans, and
what looks wrong (orphans, clock skew, truncation). `open_set` chooses which subtrees a big trace opens with, and
`render_rows` turns rows into HTML in Python: a Django template loop over 10,000 rows costs ~25x more.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

ERROR = 2  # OTLP StatusCode.ERROR
SERVICE_COLOURS = 12  # console.css defines .svc-0 … .svc-11
MAX_INDENT = 40  # console.css defines .d0 … .d40; deeper rows are drawn at 40
# A child starting this much before its parent, or ending this much after it, is reported as clock skew.
SKEW_TOLERANCE_NS = 1_000_000


class SpanTuple(NamedTuple):
    """The waterfall columns of a span, in the order `SPAN_COLUMNS` fetches them."""

    span_id: str
    parent_span_id: str
    name: str
    service: str
    kind: int
    start_ns: int
    duration_ns: int
    status_code: int


SPAN_COLUMNS = ("span_id", "parent_span_id", "name", "service", "kind", "start_ns", "duration_ns", "status_code")


@dataclass
class Row:
    span_id: str
    parent_span_id: str
    name: str
    service: str
    kind: int
    start_ns: int
    duration_ns: int
    is_error: bool
    depth: int = 0
    parent_index: int | None = None  # index in Waterfall.rows, None for roots and orphans
    children: list[int] = field(default_factory=list)
    descendants: int = 0
    on_critical_path: bool = False
    self_ns: int = 0
    orphan: bool = False

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.duration_ns


@dataclass(frozen=True)
class SelfTime:
    key: str  # service, or "service: operation"
    service: str
    self_ns: int
    spans: int


@dataclass
class Waterfall:
    rows: list[Row]  # tree order
    start_ns: int
    end_ns: int
    services: list[str]  # sorted; colour index = position
    critical_path: list[int]  # row indices, root first
    self_by_service: list[SelfTime]
    self_by_operation: list[SelfTime]
    slowest: list[int]  # row indices, slowest first
    warnings: list[str]
    index_of: dict[str, int]

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def error_rows(self) -> list[int]:
        return [i for i, r in enumerate(self.rows) if r.is_error]

    def colour_of(self, service: str) -> int:
        try:
            return self.services.index(service) % SERVICE_COLOURS
        except ValueError:
            return 0

    def subtree(self, index: int) -> range:
        """Row indices of a row and all its descendants (contiguous in tree order)."""
        return range(index, index + self.rows[index].descendants + 1)

    def failing_span(self) -> int | None:
        """The error span that explains the failure: the deepest error span, earliest first."""
        errors = self.error_rows
        if not errors:
            return None
        leaves = [i for i in errors if not any(self.rows[j].is_error for j in self.subtree(i) if j != i)]
        return min(leaves, key=lambda i: (-self.rows[i].depth, self.rows[i].start_ns))


def build(
    spans: Iterable[Sequence], *, truncated_at: int | None = None, expected_spans: int | None = None
) -> Waterfall:
    """Spans (tuples in SPAN_COLUMNS order) → the waterfall. `truncated_at`: the fetch limit, when one applied."""
    raw = [SpanTuple(*s) for s in spans]
    warnings: list[str] = []
    # One row per span id; a span sent twice keeps its first copy.
    by_id: dict[str, SpanTuple] = {}
    for s in raw:
        by_id.setdefault(s.span_id, s)
    children: dict[str, list[SpanTuple]] = defaultdict(list)
    roots: list[SpanTuple] = []
    orphans = 0
    for s in by_id.values():
        parent = s.parent_span_id
        if parent and parent in by_id and parent != s.span_id:
            children[parent].append(s)
        else:
            if parent and parent != s.span_id:
                orphans += 1
            roots.append(s)
    order_key = lambda s: (s.start_ns, s.span_id)  # noqa: E731
    roots.sort(key=order_key)
    for kids in children.values():
        kids.sort(key=order_key)

    rows: list[Row] = []
    index_of: dict[str, int] = {}
    # Iterative depth-first walk: a chain of 10,000 spans must not hit the recursion limit.
    stack: list[tuple[SpanTuple, int, int | None]] = [(r, 0, None) for r in reversed(roots)]
    seen: set[str] = set()
    while stack:
        s, depth, parent_index = stack.pop()
        if s.span_id in seen:  # a parent cycle: draw each span once
            continue
        seen.add(s.span_id)
        row = Row(
            span_id=s.span_id,
            parent_span_id=s.parent_span_id,
            name=s.name,
            service=s.service,
            kind=s.kind,
            start_ns=s.start_ns,
            duration_ns=max(s.duration_ns, 0),
            is_error=s.status_code == ERROR,
            depth=depth,
            parent_index=parent_index,
            orphan=parent_index is None and bool(s.parent_span_id) and s.parent_span_id != s.span_id,
        )
        index_of[s.span_id] = len(rows)
        if parent_index is not None:
            rows[parent_index].children.append(len(rows))
        rows.append(row)
        me = len(rows) - 1
        for child in reversed(children.get(s.span_id, ())):
            stack.append((child, depth + 1, me))
    unreached = [s for s in by_id.values() if s.span_id not in seen]
    if unreached:  # spans caught in a parent cycle with no way in from a root
        for s in sorted(unreached, key=order_key):
            index_of[s.span_id] = len(rows)
            rows.append(
                Row(s.span_id, s.parent_span_id, s.name, s.service, s.kind, s.start_ns, max(s.duration_ns, 0),
                    s.status_code == ERROR, orphan=True)
            )  # fmt: skip
        warnings.append(f"{len(unreached)} spans form a parent cycle and are drawn as roots.")

    # Descendant counts (children come after their parent in tree order, so walk backwards).
    for i in range(len(rows) - 1, -1, -1):
        p = rows[i].parent_index
        if p is not None:
            rows[p].descendants += rows[i].descendants + 1

    start = min((r.start_ns for r in rows), default=0)
    end = max((r.end_ns for r in rows), default=0)
    services = sorted({r.service for r in rows})

    skewed = 0
    for r in rows:
        r.self_ns = _self_time(r, rows)
        if r.parent_index is not None:
            p = rows[r.parent_index]
            if r.start_ns < p.start_ns - SKEW_TOLERANCE_NS or r.end_ns > p.end_ns + SKEW_TOLERANCE_NS:
                skewed += 1
    critical = _critical_path(rows)
    for i in critical:
        rows[i].on_critical_path = True

    by_service: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_operation: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        acc = by_service[r.service]
        acc[0] += r.self_ns
        acc[1] += 1
        acc = by_operation[(r.service, r.name)]
        acc[0] += r.self_ns
        acc[1] += 1
    self_by_service = sorted(
        (SelfTime(svc, svc, ns, n) for svc, (ns, n) in by_service.items()), key=lambda t: (-t.self_ns, t.key)
    )
    self_by_operation = sorted(
        (SelfTime(f"{svc}: {op}", svc, ns, n) for (svc, op), (ns, n) in by_operation.items()),
        key=lambda t: (-t.self_ns, t.key),
    )
    slowest = heapq.nsmallest(10, range(len(rows)), key=lambda i: (-rows[i].duration_ns, i))

    if orphans:
        warnings.append(
            f"{orphans} span{'s' if orphans != 1 else ''} name a parent that is not in this trace (orphans); "
            "they are drawn as roots."
        )
    if skewed:
        warnings.append(
            f"{skewed} span{'s' if skewed != 1 else ''} start before or end after their parent (clock skew "
            "between hosts?)."
        )
    if truncated_at is not None and len(raw) >= truncated_at:
        warnings.append(f"Only the first {truncated_at:,} spans are shown; the trace is truncated.")
    elif expected_spans is not None and expected_spans > len(by_id):
        warnings.append(
            f"The trace summary counts {expected_spans:,} spans but {len(by_id):,} were found; some may still "
            "be arriving or were dropped."
        )
    return Waterfall(
        rows=rows,
        start_ns=start,
        end_ns=end,
        services=services,
        critical_path=critical,
        self_by_service=self_by_service,
        self_by_operation=self_by_operation,
        slowest=slowest,
        warnings=warnings,
        index_of=index_of,
    )


def _self_time(row: Row, rows: list[Row]) -> int:
    """The span's duration minus the union of its children's intervals clipped to the span."""
    if not row.children:
        return row.duration_ns
    lo, hi = row.start_ns, row.end_ns
    intervals = sorted((max(rows[c].start_ns, lo), min(rows[c].end_ns, hi)) for c in row.children)
    covered = 0
    cur_s, cur_e = None, None
    for s, e in intervals:
        if e <= s:
            continue
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                covered += cur_e - cur_s  # type: ignore[operator]
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        covered += cur_e - cur_s  # type: ignore[operator]
    return max(row.duration_ns - covered, 0)


def _critical_path(rows: list[Row]) -> list[int]:
    """Jaeger's rule: from the longest root, the last-finishing child (ends clipped to the parent), then the child
    that finished before that one started, and so on; each chosen child's own critical path is part of the path."""
    if not rows:
        return []
    roots = [i for i, r in enumerate(rows) if r.parent_index is None]
    root = max(roots, key=lambda i: (rows[i].duration_ns, -i))
    path: list[int] = []
    work = [root]  # explicit stack: a chain of 10,000 spans must not recurse
    while work:
        i = work.pop()
        path.append(i)
        row = rows[i]
        cursor = row.end_ns
        for c in sorted(row.children, key=lambda c: (min(rows[c].end_ns, row.end_ns), -c), reverse=True):
            child = rows[c]
            if min(child.end_ns, row.end_ns) <= cursor:
                work.append(c)
                cursor = child.start_ns
                if cursor <= row.start_ns:
                    break
    return sorted(path)


def open_set(wf: Waterfall, *, full_limit: int = 400, extra: Iterable[int] = ()) -> set[int]:
    """Rows whose children are shown. A small trace opens fully; a big one opens only the ancestors of error spans,
    of the critical path and of `extra` rows (the selected span), so it shows what matters and little else."""
    rows = wf.rows
    if len(rows) <= full_limit:
        return set(range(len(rows)))
    wanted = set(wf.error_rows) | set(wf.critical_path) | set(extra)
    opened: set[int] = set()
    for i in wanted:
        p = rows[i].parent_index
        while p is not None and p not in opened:
            opened.add(p)
            p = rows[p].parent_index
    return opened


def visible_rows(wf: Waterfall, opened: set[int], within: int | None = None) -> list[int]:
    """Rows shown when `opened` rows show their children: roots (or `within` and below) down through open rows."""
    rows = wf.rows
    span = wf.subtree(within) if within is not None else range(len(rows))
    out: list[int] = []
    skip_until = -1
    for i in span:
        if i < skip_until:
            continue
        out.append(i)
        if i not in opened:
            skip_until = i + rows[i].descendants + 1
    return out


def _fmt_ns(ns: int) -> str:
    if ns >= 999_950_000:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1_000_000:
        return f"{ns / 1e6:.1f} ms"
    if ns >= 1_000:
        return f"{ns / 1e3:.0f} µs"
    return f"{ns} ns"


format_ns = _fmt_ns


def render_rows(
    wf: Waterfall,
    indices: Iterable[int],
    opened: set[int],
    *,
    trace_url: str,
    selected: str | None = None,
) -> SafeString:
    """The rows as HTML. Everything from the span is escaped; bars are SVG presentation attributes (CSP-safe)."""
    rows = wf.rows
    total = max(wf.duration_ns, 1)
    base = wf.start_ns
    shown = set(indices) if not isinstance(indices, set) else indices
    parts: list[str] = []
    for i in indices:
        r = rows[i]
        classes = ["wf-row", f"d{min(r.depth, MAX_INDENT)}"]
        if r.is_error:
            classes.append("err")
        if r.on_critical_path:
            classes.append("cp")
        if r.span_id == selected:
            classes.append("selected")
        hidden_children = 0
        if r.children:
            loaded = [c for c in r.children if c in shown]
            if i not in opened:
                classes.append("collapsed")
            if len(loaded) < len(r.children):
                hidden_children = r.descendants - sum(rows[c].descendants + 1 for c in loaded)
        x = (r.start_ns - base) * 1000 / total
        w = max(r.duration_ns * 1000 / total, 0.5)
        sid = escape(r.span_id)
        if r.children:
            label = "Expand" if i not in opened else "Collapse"
            toggle = (
                f'<button type="button" class="wf-toggle" aria-label="{label} {escape(r.name)}"'
                f' aria-expanded="{"false" if i not in opened else "true"}"></button>'
            )
        else:
            toggle = '<span class="wf-leaf"></span>'
        more = f' data-unloaded="{hidden_children}"' if hidden_children else ""
        badge = f'<span class="wf-more">+{hidden_children:,}</span>' if hidden_children else ""
        parts.append(
            f'<div class="{" ".join(classes)}" id="span-{sid}" data-span="{sid}" data-depth="{r.depth}"{more}>'
            f'<div class="wf-label">{toggle}'
            f'<a class="wf-name" href="{escape(trace_url)}?span={sid}" data-span="{sid}">'
            f'<span class="svc svc-{wf.colour_of(r.service)}">{escape(r.service)}</span> {escape(r.name)}</a>{badge}'
            f"</div>"
            f'<svg class="wf-bar" viewBox="0 0 1000 10" preserveAspectRatio="none" aria-hidden="true">'
            f'<rect class="svc-fill-{wf.colour_of(r.service)}" x="{x:.1f}" y="1" width="{w:.1f}" height="8"/></svg>'
            f'<span class="wf-dur">{_fmt_ns(r.duration_ns)}</span></div>'
        )
    return mark_safe("".join(parts))  # noqa: S308 -- every interpolated value above is escaped or numeric
