"""The check: which ticks were missed, which runs are stuck, as a plain function of (schedules, runs, now).

No database and no clock of its own: the monitor (jobs/schedules/monitor.py) reads the rows, calls `check` with
the time, and writes what it returns; tests call it with a fixed clock.

- A tick t of a job is decided once `now` passes t + grace, and only ticks after the job's `checked_until` are
  looked at (the monitor moves it forward as it decides): a monitor that was down for an hour decides that hour's
  ticks at its next check, each once.
- t is covered by a run whose moment (its `scheduled_at`, else its `started_at`) lies in [t - EARLY, next tick -
  EARLY): a run a worker's clock puts a little before the tick still counts, and so does a late run that arrived
  before the tick was decided. A decided tick no run covers is **missed**; a missed row is never written for a
  tick that has a run, and a run arriving later takes the missed row's place (monitor.take_missed_places).
- A run is **late** when its moment is after its tick's grace (`lateness`, used when a record arrives).
- A run still `running` past the job's maximum run time is **stuck** (flagged; its record is left as it is).
- An interval (`@every 15m`) ticks from the latest run's start (the `anchor`), so each run restarts the rhythm.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jobs.choices import RunStatus
from jobs.schedules.ticks import Schedule, tick_at_or_before, ticks_after, ticks_between

EARLY = timedelta(seconds=60)
MAX_TICKS_PER_CHECK = 500  # per job and check: a job down for longer is decided over several checks


@dataclass(frozen=True)
class Watched:
    """A scheduled job as the check sees it."""

    job_id: int
    schedule: Schedule
    grace: timedelta
    max_runtime: timedelta | None
    checked_until: datetime  # every tick up to here is decided
    anchor: datetime | None = None  # intervals: the latest run's start


@dataclass(frozen=True)
class Run:
    job_id: int
    execution_id: str
    status: str
    scheduled_at: datetime | None
    started_at: datetime | None

    @property
    def moment(self) -> datetime | None:
        return self.scheduled_at or self.started_at


@dataclass(frozen=True)
class Missed:
    job_id: int
    tick: datetime
    decided_at: datetime  # tick + grace


@dataclass(frozen=True)
class Stuck:
    job_id: int
    execution_id: str
    started_at: datetime
    limit: timedelta


@dataclass
class Result:
    missed: list[Missed] = field(default_factory=list)
    stuck: list[Stuck] = field(default_factory=list)
    checked_until: dict[int, datetime] = field(default_factory=dict)  # job -> new cursor
    due_at: dict[int, datetime] = field(default_factory=dict)  # job -> when its next tick is decided


def covered(tick: datetime, next_tick: datetime, moments: Sequence[datetime]) -> bool:
    """A run belongs to the latest tick at or before its moment (+ EARLY): on time or late, the tick had its run."""
    return any(tick - EARLY <= m < next_tick - EARLY for m in moments)


def check(watched: Sequence[Watched], runs: Iterable[Run], now: datetime) -> Result:
    """Decide every tick after each job's cursor whose grace ended by `now`; flag stuck runs. `runs`: the jobs'
    runs since their cursors minus EARLY (and every run still running), missed ones excluded or not (ignored)."""
    moments: dict[int, list[datetime]] = {}
    running: dict[int, list[Run]] = {}
    for run in runs:
        if run.status == RunStatus.MISSED:
            continue
        if run.moment is not None:
            moments.setdefault(run.job_id, []).append(run.moment)
        if run.status == RunStatus.RUNNING and run.started_at is not None:
            running.setdefault(run.job_id, []).append(run)
    result = Result()
    for job in watched:
        horizon = now - job.grace
        seen = moments.get(job.job_id, [])
        ticks = ticks_between(job.schedule, job.checked_until, horizon, anchor=job.anchor, limit=MAX_TICKS_PER_CHECK)
        for tick in ticks:
            following = next(ticks_after(job.schedule, tick, anchor=job.anchor))
            if not covered(tick, following, seen):
                result.missed.append(Missed(job.job_id, tick, tick + job.grace))
        cursor = ticks[-1] if len(ticks) == MAX_TICKS_PER_CHECK else max(horizon, job.checked_until)
        result.checked_until[job.job_id] = cursor
        result.due_at[job.job_id] = next(ticks_after(job.schedule, cursor, anchor=job.anchor)) + job.grace
    limits = {job.job_id: job.max_runtime for job in watched if job.max_runtime is not None}
    result.stuck = find_stuck(limits, [r for rs in running.values() for r in rs], now)
    return result


def find_stuck(limits: Mapping[int, timedelta], runs: Iterable[Run], now: datetime) -> list[Stuck]:
    """Runs still running longer than their job's limit (jobs without a limit are never stuck)."""
    out = []
    for run in runs:
        limit = limits.get(run.job_id)
        if limit is not None and run.status == RunStatus.RUNNING and run.started_at and now - run.started_at > limit:
            out.append(Stuck(run.job_id, run.execution_id, run.started_at, limit))
    return out


def lateness(
    schedule: Schedule, grace: timedelta, moment: datetime, *, anchor: datetime | None = None
) -> tuple[datetime | None, timedelta | None]:
    """(the tick a run at `moment` belongs to, how late past its grace it started, or None when on time)."""
    tick = tick_at_or_before(schedule, moment + EARLY, anchor=anchor)
    if tick is None:
        return None, None
    late = moment - (tick + grace)
    return tick, (late if late > timedelta(0) else None)


@dataclass(frozen=True)
class TickOutcome:
    tick: datetime
    outcome: str  # on_time, late, missed, failed, running, stuck, pending (in its grace), cancelled, unwatched
    run: Run | None


def outcomes(
    ticks: Sequence[datetime],
    following: datetime,
    grace: timedelta,
    max_runtime: timedelta | None,
    runs: Iterable[Run],
    now: datetime,
    decided_until: datetime | None = None,
) -> list[TickOutcome]:
    """What happened at each tick (oldest first; `following`: the tick after the last): the run that belongs to it
    (the first whose moment is in [tick - EARLY, next tick - EARLY)) and what became of it. A tick the monitor had
    decided (up to `decided_until`) without writing a missed row was not watched then (before the declaration)."""
    by_moment = sorted((r for r in runs if r.moment is not None), key=lambda r: r.moment)  # type: ignore[arg-type,return-value]
    out = []
    bounds = [*ticks[1:], following]
    for tick, nxt in zip(ticks, bounds, strict=True):
        run = next((r for r in by_moment if tick - EARLY <= r.moment < nxt - EARLY), None)  # type: ignore[operator]
        if run is None:
            if now <= tick + grace:
                outcome = "pending"
            else:
                outcome = "unwatched" if decided_until is not None and tick <= decided_until else "missed"
        elif run.status == RunStatus.MISSED:
            outcome = "missed"
        elif run.status in (RunStatus.FAILED, RunStatus.TIMED_OUT):
            outcome = "failed"
        elif run.status in (RunStatus.RUNNING, RunStatus.PENDING):
            limit_passed = max_runtime is not None and run.started_at and now - run.started_at > max_runtime
            outcome = "stuck" if limit_passed else "running"
        elif run.status == RunStatus.CANCELLED:
            outcome = "cancelled"
        else:
            outcome = "late" if run.moment > tick + grace else "on_time"  # type: ignore[operator]
        out.append(TickOutcome(tick, outcome, run))
    return out
