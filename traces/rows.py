"""The trace search's result rows, joined in Python with every value escaped (the waterfall's rows are rendered by
traces/waterfall.py), and its duration-over-time scatter (pure geometry; the template draws it as inline SVG).

A Django template loop costs ~0.5 ms per row of this size; a search shows up to 200 rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils.safestring import SafeString, mark_safe

from console.pages import escape, truncate
from traces.waterfall import format_ns

# Scheduler-originated, not user traffic (the page's legend says what that means); short, as 200 rows may carry it.
SCHEDULER_MARK = '<span class="tag origin-scheduler">scheduler</span>'


def trace_result_rows(results: Iterable[dict[str, Any]]) -> SafeString:
    """rows: {"t": Trace values (with `scheduler`), "url", "owner": {job, job_name, execution, execution_id, shard,
    shard_id}, "started"}."""
    out = []
    for r in results:
        t, o = r["t"], r["owner"]
        url = escape(r["url"])
        owner = ""
        if o.get("job"):
            owner = f'<a href="{escape(o["job"])}">{escape(o["job_name"])}</a>'
            if o.get("execution"):
                owner += f' / <a href="{escape(o["execution"])}">{escape(o["execution_id"])}</a>'
            if o.get("shard"):
                owner += f' / <a href="{escape(o["shard"])}">{escape(o["shard_id"])}</a>'
        services = ", ".join(str(s) for s in (t.services or []))
        mark = f" {SCHEDULER_MARK}" if getattr(t, "scheduler", False) else ""
        out.append(
            f'<tr class="{"failing" if t.error_count else ""}">'
            f'<td><a class="trace-link" href="{url}">{r["started"]:%Y-%m-%d %H:%M:%S}</a>'
            f' <span class="mono muted">{escape(t.trace_id[:8])}…</span></td>'
            f'<td><a href="{url}">{escape(t.root_service)}: {escape(truncate(t.root_name, 80))}</a>{mark}</td>'
            f"<td>{escape(truncate(services, 80))}</td>"
            f'<td class="num">{t.span_count}</td>'
            f'<td class="num{" bad" if t.error_count else ""}">{t.error_count}</td>'
            f'<td class="num">{format_ns(t.duration_ns)}</td><td>{owner}</td></tr>'
        )
    return mark_safe("".join(out))  # noqa: S308 -- every interpolated value is escaped or numeric


# --- the scatter -----------------------------------------------------------------------------------------------

WIDTH, HEIGHT = 1000, 180  # the SVG's user units; it scales to the page's width
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 10, 22  # room for the axis labels


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    url: str
    label: str
    failing: bool
    scheduler: bool


@dataclass(frozen=True)
class Tick:
    at: float  # x or y in user units
    label: str


@dataclass(frozen=True)
class Scatter:
    points: list[Point]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: float = HEIGHT - BOTTOM
    right: float = WIDTH - RIGHT
    top: int = TOP


def scatter(rows: Sequence[tuple[int, int, bool, bool, str, str]]) -> Scatter | None:
    """Duration over start time of search results, as Jaeger draws them: rows are (start_ns, duration_ns, failing,
    scheduler, url, label). The y axis starts at 0 and ends at the longest duration; the x axis spans the results'
    starts (a single instant is centred)."""
    if not rows:
        return None
    first = min(r[0] for r in rows)
    last = max(r[0] for r in rows)
    longest = max(max(r[1] for r in rows), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = last - first

    def x_of(start: int) -> float:
        return LEFT + (plot_w / 2 if span == 0 else (start - first) / span * plot_w)

    def y_of(duration: int) -> float:
        return TOP + plot_h - duration / longest * plot_h

    points = [
        Point(round(x_of(s), 1), round(y_of(d), 1), url, label, failing, scheduler)
        for s, d, failing, scheduler, url, label in rows
    ]
    y_ticks = [Tick(round(y_of(int(longest * f)), 1), format_ns(int(longest * f))) for f in (0, 0.5, 1)]
    x_ticks = [Tick(round(x_of(first), 1), _clock(first))]
    if span:
        x_ticks.append(Tick(round(x_of(last), 1), _clock(last)))
    return Scatter(points, y_ticks, x_ticks)


def _clock(ns: int) -> str:
    return f"{datetime.fromtimestamp(ns / 1e9, tz=UTC):%Y-%m-%d %H:%M:%S}"


def scatter_points(chart: Scatter) -> SafeString:
    """The scatter's points as SVG, joined here like the rows (a template loop over 200 points costs ~10 ms)."""
    out = []
    for p in chart.points:
        classes = "point" + (" failing" if p.failing else "") + (" scheduler" if p.scheduler else "")
        out.append(
            f'<a href="{escape(p.url)}" class="point-link"><circle class="{classes}" cx="{p.x}" cy="{p.y}" r="5">'
            f"<title>{escape(p.label)}</title></circle></a>"
        )
    return mark_safe("".join(out))  # noqa: S308 -- every interpolated value is escaped or numeric
