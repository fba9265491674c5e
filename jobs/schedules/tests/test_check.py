"""The check as a pure function with a fixed clock: missed, covered, late and stuck; intervals; both DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobs.schedules.check import Run, Watched, check, find_stuck, lateness
from jobs.schedules.ticks import parse_schedule

MIN = timedelta(minutes=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def watched(expr: str, since: datetime, *, tz: str = "UTC", grace: timedelta = 5 * MIN, **kw) -> Watched:
    return Watched(1, parse_schedule(expr, tz), grace, kw.pop("max_runtime", None), since, **kw)


def run(started: datetime, status: str = "succeeded", scheduled: datetime | None = None, eid: str = "r") -> Run:
    return Run(1, eid, status, scheduled, started)


def test_a_tick_with_no_run_is_missed_once_its_grace_has_passed_and_not_before():
    job = watched("0 2 * * *", utc(2026, 1, 1))
    assert check([job], [], utc(2026, 1, 1, 2, 4)).missed == []  # within the grace: undecided
    result = check([job], [], utc(2026, 1, 1, 2, 5, 1))
    assert [m.tick for m in result.missed] == [utc(2026, 1, 1, 2)]
    assert result.checked_until[1] == utc(2026, 1, 1, 2, 0, 1)  # now - grace: decided up to here
    assert result.due_at[1] == utc(2026, 1, 2, 2, 5)  # the next tick's grace end


def test_a_run_within_the_grace_or_a_little_early_covers_its_tick():
    job = watched("0 2 * * *", utc(2026, 1, 1))
    now = utc(2026, 1, 1, 3)
    assert check([job], [run(utc(2026, 1, 1, 2, 4, 59))], now).missed == []
    assert check([job], [run(utc(2026, 1, 1, 1, 59, 30))], now).missed == []  # a worker clock 30 s behind
    assert check([job], [run(utc(2026, 1, 1, 4), scheduled=utc(2026, 1, 1, 2))], now).missed == []  # scheduled_at
    assert check([job], [run(utc(2026, 1, 1, 2, 6))], now).missed == []  # late, not missed: it had its run
    assert len(check([job], [run(utc(2026, 1, 1, 1, 58))], now).missed) == 1  # yesterday's tick's run, not this


def test_a_monitor_back_after_an_hour_decides_every_tick_it_missed_once():
    job = watched("*/5 * * * *", utc(2026, 1, 1, 12))
    runs = [run(utc(2026, 1, 1, 12, 20, 2), eid="a")]
    first = check([job], runs, utc(2026, 1, 1, 13, 5))
    # 12:05 .. 13:00, minus the 12:20 that ran: 11 missed, each once.
    assert len(first.missed) == 11
    assert utc(2026, 1, 1, 12, 20) not in {m.tick for m in first.missed}
    again = Watched(1, job.schedule, job.grace, None, first.checked_until[1])
    assert check([again], runs, utc(2026, 1, 1, 13, 5, 30)).missed == []


def test_an_interval_expects_the_next_run_one_interval_after_the_last():
    job = watched("@every 15m", utc(2026, 1, 1, 12), grace=MIN, anchor=utc(2026, 1, 1, 12, 3))
    assert check([job], [], utc(2026, 1, 1, 12, 18, 59)).missed == []
    (missed,) = check([job], [], utc(2026, 1, 1, 12, 19, 1)).missed
    assert missed.tick == utc(2026, 1, 1, 12, 18)


def test_a_0230_job_in_berlin_is_expected_at_0300_on_the_spring_night_and_missed_there():
    job = watched("30 2 * * *", utc(2026, 3, 28, 12), tz="Europe/Berlin")
    (missed,) = check([job], [], utc(2026, 3, 29, 1, 10)).missed  # 03:10 CEST
    assert missed.tick == utc(2026, 3, 29, 1)  # 03:00 CEST: cronsim runs the skipped 02:30 at 03:00
    assert check([job], [run(utc(2026, 3, 29, 1, 1))], utc(2026, 3, 29, 1, 10)).missed == []


def test_a_0230_job_in_berlin_is_expected_once_on_the_autumn_night():
    job = watched("30 2 * * *", utc(2026, 10, 24, 12), tz="Europe/Berlin")
    result = check([job], [], utc(2026, 10, 25, 3))  # past both 02:30s (00:30Z CEST, 01:30Z CET)
    assert [m.tick for m in result.missed] == [utc(2026, 10, 25, 0, 30)]
    hourly = watched("30 * * * *", utc(2026, 10, 24, 23, 45), tz="Europe/Berlin")
    ticks = [m.tick for m in check([hourly], [], utc(2026, 10, 25, 2)).missed]
    assert ticks == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)]  # 02:30 CEST and 02:30 CET


def test_a_run_past_its_maximum_run_time_is_stuck_and_a_finished_one_is_not():
    limits = {1: timedelta(minutes=30)}
    now = utc(2026, 1, 1, 3)
    long_running = run(utc(2026, 1, 1, 2, 29), status="running", eid="slow")
    (stuck,) = find_stuck(limits, [long_running, run(utc(2026, 1, 1, 2, 31), status="running")], now)
    assert stuck.execution_id == "slow"
    assert find_stuck(limits, [run(utc(2026, 1, 1, 1), status="succeeded")], now) == []
    assert find_stuck({}, [long_running], now) == []  # no limit declared: never stuck


def test_lateness_names_the_tick_and_how_late_past_the_grace():
    schedule = parse_schedule("0 2 * * *")
    assert lateness(schedule, 5 * MIN, utc(2026, 1, 1, 2, 3)) == (utc(2026, 1, 1, 2), None)
    assert lateness(schedule, 5 * MIN, utc(2026, 1, 1, 2, 20)) == (utc(2026, 1, 1, 2), 15 * MIN)
