"""Figures for the overview and job pages, computed in Python from rows fetched in one query (no database here)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jobs.choices import FAILURE_STATUSES, TERMINAL_STATUSES, RunStatus

# A run this many times slower than the job's usual (median) duration is drawn as slow.
SLOW_FACTOR = 1.8


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of unsorted values; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(p / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def success_rate(statuses: Iterable[str]) -> float | None:
    """Share of finished runs that succeeded (cancelled runs count as finished, not as failures); None if none."""
    finished = [s for s in statuses if s in TERMINAL_STATUSES]
    if not finished:
        return None
    return sum(1 for s in finished if s == RunStatus.SUCCEEDED) / len(finished)


@dataclass
class Window:
    runs: int = 0
    succeeded: int = 0
    failed: int = 0
    finished: int = 0

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.finished if self.finished else None


@dataclass
class JobFigures:
    """What the overview shows for one job. Rows are (status, started_at, duration_ms), newest first."""

    day: Window = field(default_factory=Window)
    week: Window = field(default_factory=Window)
    p50_ms: float | None = None
    p95_ms: float | None = None
    running: int = 0
    last_status: str | None = None
    last_started_at: datetime | None = None
    durations: list[int] = field(default_factory=list)  # oldest first, for the sparkline

    @property
    def failing_now(self) -> bool:
        return self.last_status in FAILURE_STATUSES

    @property
    def sparkline(self) -> str:
        return sparkline_points(self.durations)


def job_figures(
    rows: Iterable[tuple[str, datetime | None, int | None]], now: datetime, sparkline_runs: int = 30
) -> JobFigures:
    """rows: (status, started_at, duration_ms) of one job's runs over the last 7 days, newest first."""
    f = JobFigures()
    day_ago = now - timedelta(days=1)
    durations_week: list[int] = []
    spark: list[int] = []
    for status, started_at, duration_ms in rows:
        if f.last_status is None:
            f.last_status, f.last_started_at = status, started_at
        windows = [f.week] + ([f.day] if started_at is not None and started_at >= day_ago else [])
        for w in windows:
            w.runs += 1
            if status in TERMINAL_STATUSES:
                w.finished += 1
                if status == RunStatus.SUCCEEDED:
                    w.succeeded += 1
                elif status in FAILURE_STATUSES:
                    w.failed += 1
        if status == RunStatus.RUNNING:
            f.running += 1
        if duration_ms is not None and status in TERMINAL_STATUSES:
            durations_week.append(duration_ms)
            if len(spark) < sparkline_runs:
                spark.append(duration_ms)
    f.p50_ms = percentile(durations_week, 50)
    f.p95_ms = percentile(durations_week, 95)
    f.durations = list(reversed(spark))
    return f


def sparkline_points(durations: Sequence[float], width: int = 120, height: int = 24) -> str:
    """SVG polyline points for durations (oldest first), scaled to width x height with a 1-unit margin."""
    if not durations:
        return ""
    top = max(durations) or 1
    n = len(durations)
    step = (width - 2) / (n - 1) if n > 1 else 0
    points = []
    for i, d in enumerate(durations):
        x = 1 + i * step if n > 1 else width / 2
        y = height - 1 - (d / top) * (height - 2)
        points.append(f"{x:.1f},{y:.1f}")
    return " ".join(points)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    slow: bool
    failed: bool
    duration_ms: int | None
    label: str
    url: str


@dataclass(frozen=True)
class DurationChart:
    bars: list[Bar]
    width: int
    height: int
    usual_ms: float | None  # the latest run's baseline
    usual_points: str  # SVG polyline of each run's baseline
    max_ms: int
    slow_count: int

    @property
    def failed_count(self) -> int:
        return sum(1 for b in self.bars if b.failed)

    @property
    def y_ticks(self) -> list[tuple[str, int]]:
        """The y axis, top to bottom: (label, duration in ms) at the longest run, half of it and zero."""
        return [(format_ms(ms), ms) for ms in (self.max_ms, self.max_ms // 2, 0)]


# A run is compared with the median of the runs before it (up to this many), once there are at least MIN_BASELINE.
BASELINE_RUNS = 20
MIN_BASELINE = 3


def duration_chart(
    runs: Sequence[tuple[str, int | None, str, str]], width: int = 720, height: int = 140, gap: float = 2.0
) -> DurationChart:
    """runs: (status, duration_ms, label, url), oldest first. A run slower than SLOW_FACTOR x the median of the
    runs before it (its usual duration) stands out; so a 5 s → 15 s regression is marked from its first run on,
    however many slow runs follow it in the window."""
    timed = [d for _, d, _, _ in runs if d is not None]
    top = max(timed, default=0) or 1
    n = max(len(runs), 1)
    slot = width / n
    bar_w = min(max(slot - gap, 1.0), 40.0)
    bars: list[Bar] = []
    slow_count = 0
    earlier: list[int] = []
    points: list[str] = []
    baseline: float | None = None
    for i, (status, d, label, url) in enumerate(runs):
        window = earlier[-BASELINE_RUNS:]
        baseline = statistics.median(window) if len(window) >= MIN_BASELINE else None
        h = (d / top) * (height - 4) if d is not None else 0
        slow = d is not None and baseline is not None and d > baseline * SLOW_FACTOR
        slow_count += slow
        x = round(i * slot, 1)
        if baseline is not None:
            y = round(height - (baseline / top) * (height - 4), 1)
            points.append(f"{x},{y} {round(x + slot, 1)},{y}")
        bars.append(
            Bar(
                x=x,
                y=round(height - h, 1),
                width=round(bar_w, 1),
                height=round(max(h, 1), 1),
                slow=slow,
                failed=status in FAILURE_STATUSES,
                duration_ms=d,
                label=label,
                url=url,
            )
        )
        if d is not None and status not in FAILURE_STATUSES:
            earlier.append(d)
    return DurationChart(bars, width, height, baseline, " ".join(points), int(top if timed else 0), slow_count)


def format_ms(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms >= 3_600_000:
        return f"{ms / 3_600_000:.1f} h"
    if ms >= 60_000:
        return f"{ms / 60_000:.1f} min"
    if ms >= 1000:
        return f"{ms / 1000:.1f} s"
    return f"{ms:.0f} ms"
