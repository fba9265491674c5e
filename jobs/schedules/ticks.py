"""A job's schedule as expected ticks: cron (through cronsim) or an interval (`@every 15m`). No database.

`parse_schedule(expression, timezone)` validates and returns a `Schedule`; `ticks_after` / `ticks_between` /
`next_ticks` are plain functions of (schedule, after[, anchor]) that the job page, the schedule API and the
monitor share. Every datetime in and out is aware; ticks come out in UTC.

Cron is evaluated in the job's time zone by cronsim, with its daylight-saving rules (those Healthchecks
documents): on the night the clock skips 02:00-03:00 a 02:30 job runs at 03:00; on the night 02:00-03:00 happens
twice, a job with a fixed hour runs once (the first 02:30), one whose hour field is `*` runs in both. Five fields
only (minute hour day-of-month month day-of-week), plus the macros `@hourly`, `@daily`/`@midnight`, `@weekly`,
`@monthly`, `@yearly`/`@annually`.

An interval `@every 1h30m` (units d, h, m, s; at least 10 s) ticks every so long from its anchor: the last run's
start when the caller gives one, else the Unix epoch, so `@every 15m` alone expects :00, :15, :30 and :45 (UTC).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

MIN_INTERVAL = timedelta(seconds=10)
MAX_INTERVAL = timedelta(days=366)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_INTERVAL = re.compile(r"^(?:\d+[dhms])+$")
_PART = re.compile(r"(\d+)([dhms])")


class InvalidSchedule(ValueError):
    pass


class InvalidTimezone(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    expression: str  # as declared (whitespace collapsed)
    timezone: str  # IANA name
    cron: str = ""  # the five fields (a macro expanded); empty for an interval
    interval: timedelta | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; InvalidTimezone naming it otherwise."""
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise InvalidTimezone("must be an IANA time zone name such as 'UTC' or 'Europe/Berlin'")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidTimezone(f"unknown time zone {name[:64]!r} (an IANA name such as 'Europe/Berlin')") from None


def parse_interval(text: str) -> timedelta:
    """`15m`, `30s`, `1h30m`, `1d` (the part after `@every `)."""
    compact = text.replace(" ", "").lower()
    if not _INTERVAL.match(compact):
        raise InvalidSchedule(
            f"'@every {text}' is not an interval: write it as '@every 15m', '@every 30s' or '@every 1h30m'"
        )
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(compact))
    interval = timedelta(seconds=seconds)
    if interval < MIN_INTERVAL or interval > MAX_INTERVAL:
        raise InvalidSchedule(f"'@every {text}' must be between 10s and 366d")
    return interval


def parse_schedule(expression: str, timezone: str = "UTC") -> Schedule:
    """Validate a cron expression or `@every` interval in an IANA time zone; raise InvalidSchedule/InvalidTimezone."""
    tz = zone(timezone)
    if not isinstance(expression, str):
        raise InvalidSchedule("must be a cron expression ('0 2 * * *') or an interval ('@every 15m')")
    text = " ".join(expression.split())
    if not text:
        raise InvalidSchedule("is empty")
    if len(text) > 200:
        raise InvalidSchedule("is longer than 200 characters")
    lowered = text.lower()
    if lowered.startswith("@every"):
        return Schedule(text, tz.key, interval=parse_interval(text[len("@every") :].strip()))
    cron = MACROS.get(lowered)
    if cron is None:
        if text.startswith("@"):
            raise InvalidSchedule(f"unknown macro {text!r}: use {', '.join(MACROS)} or '@every 15m'")
        cron = text.upper()  # cronsim reads JAN and MON in capitals
        if len(cron.split()) != 5:
            raise InvalidSchedule(
                f"{text!r} has {len(cron.split())} fields; a cron expression has 5: minute hour day-of-month month "
                "day-of-week"
            )
    try:
        CronSim(cron, datetime(2000, 1, 1, tzinfo=tz))
    except CronSimError as exc:
        raise InvalidSchedule(f"{text!r} is not a valid cron expression: {exc}") from None
    return Schedule(text, tz.key, cron=cron)


def ticks_after(schedule: Schedule, after: datetime, *, anchor: datetime | None = None) -> Iterator[datetime]:
    """The expected ticks strictly after `after`, in UTC, without end."""
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    if schedule.interval is not None:
        start = anchor or EPOCH
        step = schedule.interval
        k = max((after - start) // step + 1, 1 if anchor else 0)  # the anchor is the last run, not a tick
        tick = start + k * step
        while True:
            yield tick.astimezone(UTC)
            tick += step
    else:
        for tick in CronSim(schedule.cron, after.astimezone(schedule.zone)):
            yield tick.astimezone(UTC)


def ticks_between(
    schedule: Schedule, start: datetime, end: datetime, *, anchor: datetime | None = None, limit: int = 10_000
) -> list[datetime]:
    """The ticks t with start < t <= end (at most `limit`, the earliest)."""
    out: list[datetime] = []
    for tick in ticks_after(schedule, start, anchor=anchor):
        if tick > end or len(out) >= limit:
            break
        out.append(tick)
    return out


def next_ticks(expression: str, timezone: str, after: datetime, count: int = 5) -> list[datetime]:
    """The next `count` ticks after `after` of a schedule given as text (validated)."""
    return list(islice(ticks_after(parse_schedule(expression, timezone), after), count))


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def describe(schedule: Schedule) -> str:
    """The schedule in words, e.g. "At 02:30 (Europe/Berlin)" or "Every 15 minutes"; cron via cron-descriptor."""
    if schedule.interval is not None:
        seconds = int(schedule.interval.total_seconds())
        parts = []
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
            if seconds >= size:
                parts.append(_plural(seconds // size, unit))
                seconds %= size
        return "Every " + " ".join(parts)
    from cron_descriptor import ExpressionDescriptor, Options

    options = Options()
    options.use_24hour_time_format = True
    try:
        words = ExpressionDescriptor(schedule.cron, options).get_description()
    except Exception:  # cron-descriptor refuses a few forms cronsim reads (e.g. `L`): show the expression
        words = schedule.expression
    return f"{words} ({schedule.timezone})"


def tick_at_or_before(schedule: Schedule, moment: datetime, *, anchor: datetime | None = None) -> datetime | None:
    """The latest tick at or before `moment` (UTC), or None (an interval's anchor is later than `moment`)."""
    if schedule.interval is not None:
        start = anchor or EPOCH
        if moment < start:
            return None
        return (start + ((moment - start) // schedule.interval) * schedule.interval).astimezone(UTC)
    probe = moment.astimezone(schedule.zone) + timedelta(seconds=1)  # cronsim's reverse is strictly before
    return next(iter(CronSim(schedule.cron, probe, reverse=True))).astimezone(UTC)


def ticks_before(schedule: Schedule, moment: datetime, count: int, *, anchor: datetime | None = None) -> list[datetime]:
    """The last `count` ticks at or before `moment`, oldest first (an interval's: back from its anchor's grid)."""
    out: list[datetime] = []
    if schedule.interval is not None:
        tick = tick_at_or_before(schedule, moment, anchor=anchor)
        while tick is not None and len(out) < count:
            out.append(tick)
            tick -= schedule.interval
    else:
        probe = moment.astimezone(schedule.zone) + timedelta(seconds=1)
        out = [t.astimezone(UTC) for t in islice(CronSim(schedule.cron, probe, reverse=True), count)]
    return out[::-1]
