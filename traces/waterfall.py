"""The waterfall of one trace, computed from plain span tuples (no database, no HTTP).

`build(spans)` puts spans in tree order (children by start time), gives each its depth, finds the critical path
(the chain of spans the trace's end waited on), self time per service and per operation, the slowest spans, and
what looks wrong (orphans, clock skew, truncation). `open_set` chooses which subtrees a big trace opens with, and
`render_rows` turns rows into HTML in Python: a Django template loop over 10,000 rows costs ~25x more.
"""

from __future__ import annotations

import gc
import heapq
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from operator import attrgetter, itemgetter
from typing import NamedTuple
from urllib.parse import urlencode

from django.utils.safestring import SafeString, mark_safe

from console.pages import escape
from traces.critical import critical_path_times
from traces.names import operation_name
from traces.selftime import SelfTime, self_times

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
# An optional ninth column: the span's `traffic.origin` attribute; "scheduler" marks the row (traces/views.py reads it
# in the same query as the columns above).
ORIGIN_COLUMN = 8
# An optional tenth: the span's `job.shard.id`, shown on rows of repeated operations (the shard tells them apart).
SHARD_COLUMN = 9
# A row with this many children or more names its children's repeated operations: "migrate account {id} x 2,500,
# 3 failed", a link to those spans (the trace page's find by operation).
GROUP_AT = 10
SCHEDULER_ORIGIN = "scheduler"
SCHEDULER_TAG = (
    '<span class="tag origin-scheduler" title="traffic.origin=scheduler: this call and the rows below it, marked by '
    'a violet edge, come from a scheduler">scheduler</span>'
)


class Row:
    """One span in the waterfall (slots and a plain __init__: 50,000 of these are built per request)."""

    __slots__ = (
        "children",
        "depth",
        "descendants",
        "duration_ns",
        "end_ns",
        "is_error",
        "kind",
        "name",
        "on_critical_path",
        "orphan",
        "parent_index",
        "parent_span_id",
        "scheduler",
        "self_ns",
        "service",
        "shard_id",
        "span_id",
        "start_ns",
    )

    def __init__(
        self,
        span_id: str,
        parent_span_id: str,
        name: str,
        service: str,
        kind: int,
        start_ns: int,
        duration_ns: int,
        is_error: bool,
        depth: int = 0,
        parent_index: int | None = None,
        orphan: bool = False,
    ) -> None:
        self.span_id = span_id
        self.parent_span_id = parent_span_id
        self.name = name
        self.service = service
        self.kind = kind
        self.start_ns = start_ns
        self.duration_ns = duration_ns
        self.end_ns = start_ns + duration_ns
        self.is_error = is_error
        self.depth = depth
        self.parent_index = parent_index  # index in Waterfall.rows; None for roots and orphans
        self.children: list[int] = []
        self.descendants = 0
        self.on_critical_path = False
        self.self_ns = duration_ns  # a leaf's; a parent's is set by build (its duration minus its children's)
        self.orphan = orphan
        self.scheduler = False  # marked traffic.origin=scheduler (a call a scheduler originated)
        self.shard_id = ""  # the span's job.shard.id: what tells a repeated operation's rows apart


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

    def minimap(self, bins: int = 200) -> list[tuple[float, float, float, bool]]:
        """The whole trace in `bins` columns of a 1000-wide, 22-high SVG: (x, y, height, has an error span) of each
        column holding span starts; heights by the square root of the count, so one span still shows."""
        if not self.rows:
            return []
        total = max(self.duration_ns, 1)
        counts = [0] * bins
        errors = [False] * bins
        for r in self.rows:
            b = min(int((r.start_ns - self.start_ns) * bins / total), bins - 1)
            counts[b] += 1
            if r.is_error:
                errors[b] = True
        peak = max(counts) ** 0.5 or 1
        width = 1000 / bins
        return [
            (round(b * width, 1), round(22 - h, 1), round(h, 1), errors[b])
            for b, n in enumerate(counts)
            if n
            for h in (max(n**0.5 / peak * 20, 1.5),)
        ]

    @property
    def ticks(self) -> list[str]:
        """Labels of the time axis: 0, a quarter, a half, three quarters and the whole of the trace."""
        return [_fmt_ns(self.duration_ns * k // 4) if k else "0" for k in range(5)]

    @cached_property
    def error_rows(self) -> list[int]:
        """Indices of the error spans, in tree order (asked for several times per page: computed once)."""
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


@contextmanager
def paused_gc() -> Iterator[None]:
    """Fetching and building 10,000+ rows allocates a few hundred thousand objects: pause the cyclic collector
    meanwhile (none of them form cycles), else it rescans the whole heap over and over."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build(
    spans: Iterable[Sequence],
    *,
    truncated_at: int | None = None,
    expected_spans: int | None = None,
    outline: bool = False,
) -> Waterfall:
    """Spans (tuples in SPAN_COLUMNS order) → the waterfall. `truncated_at`: the fetch limit, when one applied.

    `outline=True` is the cheaper pass a subtree fragment needs: tree order, depths, descendants, errors and the
    critical path, without self time and its per-service and per-operation tables (a parent's `self_ns` is left at its
    duration; `self_by_service`, `self_by_operation` and `slowest` are empty)."""
    warnings: list[str] = []
    # One row per span id; a span sent twice keeps its first copy. Spans stay plain tuples until placed.
    spans = spans if isinstance(spans, list) else list(spans)
    received = len(spans)
    backwards = spans[::-1]  # so that the first copy of an id is written last and kept
    by_id: dict[str, Sequence] = dict(zip(map(itemgetter(0), backwards), backwards, strict=True))
    children: dict[str, list[Sequence]] = {}
    roots: list[Sequence] = []
    orphans = 0
    for sp in by_id.values():
        parent = sp[1]
        if parent and parent != sp[0] and parent in by_id:
            kids = children.get(parent)
            if kids is None:
                children[parent] = [sp]
            else:
                kids.append(sp)
        else:
            if parent and parent != sp[0]:
                orphans += 1
            roots.append(sp)
    order_key = itemgetter(5, 0)  # start_ns, span_id
    roots.sort(key=order_key)
    for kids in children.values():
        kids.sort(key=order_key)

    rows: list[Row] = []
    append = rows.append
    index_of: dict[str, int] = {}
    # Iterative depth-first walk: a chain of 10,000 spans must not hit the recursion limit. The stack holds
    # (span, depth, parent index) per span; columns 9 and 10 are read only when the fetch has them.
    stack: list[tuple[Sequence, int, int | None]] = [(r, 0, None) for r in reversed(roots)]
    pop = stack.pop
    push = stack.append
    get_kids = children.get
    with_origin = bool(by_id) and len(next(iter(by_id.values()))) > ORIGIN_COLUMN
    skewed = 0
    lo_tolerance = hi_tolerance = 0
    parent_row: Row | None = None
    while stack:
        sp, depth, parent_index = pop()
        sid = sp[0]
        me = len(rows)
        index_of[sid] = me
        start_ns = sp[5]
        duration = sp[6] if sp[6] > 0 else 0
        row = Row(sid, sp[1], sp[2], sp[3], sp[4], start_ns, duration, sp[7] == ERROR, depth, parent_index)
        if with_origin and len(sp) > ORIGIN_COLUMN:
            if sp[ORIGIN_COLUMN] == SCHEDULER_ORIGIN:
                row.scheduler = True
            if len(sp) > SHARD_COLUMN and sp[SHARD_COLUMN]:
                row.shard_id = str(sp[SHARD_COLUMN])
        if parent_index is None:
            row.orphan = bool(sp[1]) and sp[1] != sid
        else:
            if parent_row is None or parent_row is not rows[parent_index]:
                parent_row = rows[parent_index]
                lo_tolerance = parent_row.start_ns - SKEW_TOLERANCE_NS
                hi_tolerance = parent_row.end_ns + SKEW_TOLERANCE_NS
            parent_row.children.append(me)
            if start_ns < lo_tolerance or row.end_ns > hi_tolerance:
                skewed += 1
        append(row)
        kids = get_kids(sid)
        if kids:
            child_depth = depth + 1
            for child in reversed(kids):
                push((child, child_depth, me))
    if len(rows) < len(by_id):  # spans caught in a parent cycle with no way in from a root
        unreached = sorted((sp for sid, sp in by_id.items() if sid not in index_of), key=order_key)
        for sp in unreached:
            index_of[sp[0]] = len(rows)
            append(Row(sp[0], sp[1], sp[2], sp[3], sp[4], sp[5], max(sp[6], 0), sp[7] == ERROR, orphan=True))
        warnings.append(f"{len(unreached)} spans form a parent cycle and are drawn as roots.")

    start = min(map(_start_of, rows), default=0)
    end = max(map(_end_of, rows), default=0)
    self_by_service: list[SelfTime] = []
    self_by_operation: list[SelfTime] = []
    slowest: list[int] = []
    if outline:
        for r in reversed([r for r in rows if r.children]):  # children come after their parent in tree order
            r.descendants = len(r.children) + sum(rows[c].descendants for c in r.children)
    else:
        self_by_service, self_by_operation = self_times(rows)
        slowest = _slowest(rows, 10)
    services = sorted(set(map(itemgetter(3), by_id.values())))
    critical = _critical_path(rows)
    for i in critical:
        rows[i].on_critical_path = True

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
    if truncated_at is not None and received >= truncated_at:
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


_first = itemgetter(0)
_start_of = attrgetter("start_ns")
_end_of = attrgetter("end_ns")


def _slowest(rows: list[Row], n: int) -> list[int]:
    """The indices of the n longest rows, longest first (ties: tree order), as heapq.nlargest would pick them; the
    n-th largest duration found first with ints only, so the keyed pass runs over a handful of rows."""
    durations = list(map(attrgetter("duration_ns"), rows))
    if len(durations) <= n:
        return heapq.nlargest(n, range(len(rows)), key=durations.__getitem__)
    threshold = heapq.nlargest(n, durations)[-1]
    candidates = [i for i, d in enumerate(durations) if d >= threshold]
    return heapq.nlargest(n, candidates, key=durations.__getitem__)


def _critical_path(rows: list[Row]) -> list[int]:
    return sorted(critical_path_times(rows))


# A big trace opens at most this many critical-path spans and error spans (the longest / the first), and shows at
# most MAX_CHILDREN children of one span until that span is expanded on request.
MAX_CRITICAL = 50
MAX_ERRORS = 200
MAX_CHILDREN = 100


def important(wf: Waterfall, extra: Iterable[int] = ()) -> set[int]:
    """What a big trace opens to: error spans, the longest spans of the critical path, and `extra` rows."""
    rows = wf.rows
    critical = wf.critical_path
    if len(critical) > MAX_CRITICAL:
        critical = heapq.nlargest(MAX_CRITICAL, critical, key=lambda i: rows[i].duration_ns)
    return set(wf.error_rows[:MAX_ERRORS]) | set(critical) | set(extra)


def open_set(wf: Waterfall, *, full_limit: int = 400, extra: Iterable[int] = ()) -> set[int]:
    """Rows whose children are shown. A small trace opens fully; a big one opens only the ancestors of error spans,
    of the critical path and of `extra` rows (the selected span), so it shows what matters and little else."""
    rows = wf.rows
    if len(rows) <= full_limit:
        return set(range(len(rows)))
    opened: set[int] = set()
    for i in important(wf, extra):
        p = rows[i].parent_index
        while p is not None and p not in opened:
            opened.add(p)
            p = rows[p].parent_index
    return opened


def visible_rows(
    wf: Waterfall,
    opened: set[int],
    within: int | None = None,
    *,
    keep: set[int] | None = None,
    max_children: int | None = MAX_CHILDREN,
) -> list[int]:
    """Rows shown, in tree order: roots (or `within`) and, below every opened row, its children. A row with more
    than `max_children` children shows those in `keep` (what matters) and its first others up to the limit; the
    rest load when it is expanded (`max_children=None`)."""
    rows = wf.rows
    keep = opened if keep is None else keep
    roots = [within] if within is not None else [i for i, r in enumerate(rows) if r.parent_index is None]
    out: list[int] = []
    stack = list(reversed(roots))
    while stack:
        i = stack.pop()
        out.append(i)
        if i not in opened:
            continue
        kids = rows[i].children
        if max_children is not None and len(kids) > max_children:
            chosen = {c for c in kids if c in keep}
            for c in kids:
                if len(chosen) >= max_children:
                    break
                chosen.add(c)
            kids = sorted(chosen)
        stack.extend(reversed(kids))
    return out


def _groups(wf: Waterfall, row: Row, trace_url: str) -> str:
    """The operations repeated among a row's children, as links to their spans: `migrate account {id} x 2,500,
    3 failed` (a multiplication sign on the page) (ids in names grouped; only operations with more than one child)."""
    rows = wf.rows
    counts: dict[tuple[str, str], list[int]] = {}
    for c in row.children:
        child = rows[c]
        acc = counts.setdefault((child.service, operation_name(child.name)), [0, 0])
        acc[0] += 1
        acc[1] += child.is_error
    parts = []
    for (service, name), (n, failed) in sorted(counts.items(), key=lambda item: -item[1][0])[:3]:
        if n < 2:
            continue
        url = f"{trace_url}?{urlencode({'svc': service, 'op': name})}"
        text = f"{escape(name)} \N{MULTIPLICATION SIGN} {n:,}" + (f", {failed:,} failed" if failed else "")
        parts.append(f'<a class="wf-group{" err" if failed else ""}" href="{escape(url)}">{text}</a>')
    return "".join(parts)


def tell_rows(wf: Waterfall, indices: Iterable[int]) -> list[str]:
    """Span ids of the rows among `indices` that say which shard they are (a job.shard.id their parent lacks): the
    rows whose business labels the page reads."""
    rows = wf.rows
    out = []
    for i in indices:
        r = rows[i]
        if r.shard_id and (r.parent_index is None or rows[r.parent_index].shard_id != r.shard_id):
            out.append(r.span_id)
    return out


def business_label(labels: dict[str, str], span_name: str) -> tuple[str, str]:
    """(the label that tells a shard's row apart, every label) as text: the label whose key the span's name says
    (`migrate account` → `account 1000002`), else the first by key; all of them as `key=value, ...` for its title."""
    name = span_name.casefold()
    keys = sorted(labels)
    chosen = next((k for k in keys if k.casefold() in name), keys[0])
    return f"{chosen} {labels[chosen]}", ", ".join(f"{k}={labels[k]}" for k in keys)


def _label_tag(labels: dict[str, str], span_name: str) -> str:
    text, every = business_label(labels, span_name)
    return f'<span class="wf-tell wf-business" title="{escape(every)}">{escape(text)}</span>'


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
    marked: set[int] | None = None,
    labels: dict[str, dict[str, str]] | None = None,
) -> SafeString:
    """The rows as HTML. Everything from the span is escaped; bars are SVG presentation attributes (CSP-safe).
    `labels`: business labels by span id, for the rows `tell_rows` names (traces/queries.py `shard_labels`)."""
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
        if marked and i in marked:
            classes.append("match")
        # Scheduler-originated traffic: every such row is marked, the tag says where it enters (its parent is not).
        entry = r.scheduler and (r.parent_index is None or not rows[r.parent_index].scheduler)
        if r.scheduler:
            classes.append("sched")
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
        tell = ""
        if r.shard_id and (r.parent_index is None or rows[r.parent_index].shard_id != r.shard_id):
            tell = f'<span class="wf-tell" title="job.shard.id">shard {escape(r.shard_id)}</span>'
            business = labels.get(r.span_id) if labels else None
            if business:
                tell += _label_tag(business, r.name)
        groups = _groups(wf, r, trace_url) if len(r.children) >= GROUP_AT else ""
        badge = (
            f'<button type="button" class="wf-more" title="Load the {hidden_children:,} spans not shown">'
            f"+{hidden_children:,}</button>"
            if hidden_children
            else ""
        )
        parts.append(
            f'<div class="{" ".join(classes)}" id="span-{sid}" data-span="{sid}" data-depth="{r.depth}"{more}>'
            f'<div class="wf-label">{toggle}'
            f'<a class="wf-name" href="{escape(trace_url)}?span={sid}" data-span="{sid}">'
            f'<span class="svc svc-{wf.colour_of(r.service)}">{escape(r.service)}</span> {escape(r.name)}</a>'
            f"{tell}{SCHEDULER_TAG if entry else ''}{badge}{groups}"
            f"</div>"
            f'<svg class="wf-bar" viewBox="0 0 1000 10" preserveAspectRatio="none" aria-hidden="true">'
            f'<rect class="svc-fill-{wf.colour_of(r.service)}" x="{x:.1f}" y="1" width="{w:.1f}" height="8"/></svg>'
            f'<span class="wf-dur">{_fmt_ns(r.duration_ns)}</span></div>'
        )
    return mark_safe("".join(parts))  # noqa: S308 -- every interpolated value above is escaped or numeric
