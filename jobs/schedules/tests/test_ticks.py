"""Schedules as ticks, without a database: cron in a time zone across both daylight-saving changes (cronsim's
rules), intervals from their anchor, and the errors a bad expression or zone gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.schedules.ticks import (
    InvalidSchedule,
    InvalidTimezone,
    describe,
    next_ticks,
    parse_schedule,
    ticks_after,
    ticks_between,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_five_minute_cron_ticks_strictly_after_the_given_instant():
    assert next_ticks("*/5 * * * *", "UTC", utc(2026, 1, 1, 12, 5), 3) == [
        utc(2026, 1, 1, 12, 10),
        utc(2026, 1, 1, 12, 15),
        utc(2026, 1, 1, 12, 20),
    ]


def test_a_berlin_0230_job_runs_at_0300_on_the_night_the_clock_skips_0200_to_0300():
    # 2026-03-29: Europe/Berlin goes from 02:00 CET to 03:00 CEST; 02:30 does not exist that night.
    ticks = next_ticks("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 12), 3)
    assert ticks == [utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30), utc(2026, 3, 31, 0, 30)]


def test_a_fixed_hour_job_runs_once_on_the_night_0200_to_0300_happens_twice():
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens at 00:30Z and at 01:30Z. Only the first runs.
    ticks = next_ticks("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 12), 2)
    assert ticks == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_an_hourly_job_runs_in_both_repeated_hours_when_the_clock_falls_back():
    schedule = parse_schedule("30 * * * *", "Europe/Berlin")
    ticks = ticks_between(schedule, utc(2026, 10, 24, 22), utc(2026, 10, 25, 3))
    assert ticks == [
        utc(2026, 10, 24, 22, 30),
        utc(2026, 10, 24, 23, 30),
        *(utc(2026, 10, 25, h, 30) for h in range(3)),
    ]
    local = [t.astimezone(schedule.zone).strftime("%H:%M %Z") for t in ticks]
    assert local == ["00:30 CEST", "01:30 CEST", "02:30 CEST", "02:30 CET", "03:30 CET"]


def test_an_interval_ticks_from_the_epoch_without_an_anchor_and_from_the_anchor_with_one():
    every = parse_schedule("@every 15m")
    assert next(ticks_after(every, utc(2026, 1, 1, 12, 7))) == utc(2026, 1, 1, 12, 15)
    anchored = ticks_after(every, utc(2026, 1, 1, 12, 7), anchor=utc(2026, 1, 1, 12, 3, 20))
    assert [next(anchored) for _ in range(2)] == [utc(2026, 1, 1, 12, 18, 20), utc(2026, 1, 1, 12, 33, 20)]
    assert parse_schedule("@every 1h30m").interval == timedelta(minutes=90)
    assert parse_schedule("@every 30s").interval == timedelta(seconds=30)


def test_macros_are_their_cron_expressions():
    assert parse_schedule("@daily").cron == "0 0 * * *"
    assert next_ticks("@hourly", "UTC", utc(2026, 1, 1, 12, 1), 1) == [utc(2026, 1, 1, 13)]


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("61 * * * *", "Bad minute"),
        ("* * * *", "has 4 fields"),
        ("0 2 * * * *", "has 6 fields"),
        ("0 0 30 2 *", "Bad day-of-month"),
        ("@every 5", "not an interval"),
        ("@every 2s", "between 10s"),
        ("@sometimes", "unknown macro"),
        ("", "is empty"),
    ],
)
def test_a_bad_expression_says_what_is_wrong(expression, fragment):
    with pytest.raises(InvalidSchedule, match=fragment):
        parse_schedule(expression)


def test_an_unknown_time_zone_is_refused_by_name():
    with pytest.raises(InvalidTimezone, match="Mars/Olympus"):
        parse_schedule("0 2 * * *", "Mars/Olympus")
    with pytest.raises(InvalidTimezone):
        parse_schedule("0 2 * * *", "../../etc/passwd")


def test_the_schedule_in_words_names_its_zone():
    assert describe(parse_schedule("30 2 * * *", "Europe/Berlin")) == "At 02:30 (Europe/Berlin)"
    assert describe(parse_schedule("*/5 * * * *")) == "Every 5 minutes (UTC)"
    assert describe(parse_schedule("@every 1h30m")) == "Every 1 hour 30 minutes"
