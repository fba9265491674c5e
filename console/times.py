"""Times sent by clients, read one way everywhere (pure: no database, no HTTP).

- `parse_rfc3339`: a timestamp in a posted body (records, messages, alerts): RFC 3339 with an offset, the whole text
  and nothing else. `datetime.fromisoformat` alone is not enough: it reads `2026-03-01T00:00:00Z\\x00garbage` as
  the time before the NUL.
- `parse_moment`: a time in a query string (`since`, `until` on every list and on the /traces/ page): RFC 3339 (a
  time without an offset is UTC), a date, a Unix time in seconds, or an age like `24h`.

Both answer an aware datetime in UTC, or raise ValueError with a sentence naming the value; `OutOfRange` (a
ValueError) when the time falls outside the years 1 to 9999 in UTC, which is all Python (and so Django) can hold.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from django.utils.dateparse import parse_datetime

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))?", re.ASCII
)
_AGE = re.compile(r"(\d{1,12})\s*([smhdw])", re.ASCII)
_AGE_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_UNIX = re.compile(r"\d{9,11}(?:\.\d{1,9})?", re.ASCII)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_ISO_CHARS = re.compile(r"[0-9Tt:.,+\-Zz ]+", re.ASCII)  # what a date-time may hold: never a NUL, never a letter
EXAMPLE = "2024-05-01T12:00:00Z"


class OutOfRange(ValueError):
    """A well-formed time outside the years 1 to 9999 (in UTC)."""


def _show(text: str) -> str:
    return repr(text[:80])


def parse_rfc3339(text: str) -> datetime:
    """`2024-05-01T12:00:00Z`, `2024-05-01t12:00:00.123456789+02:00`, `2024-05-01 12:00:00Z`: RFC 3339 with an
    offset (fractions beyond microseconds are cut). Anything else, a NUL or trailing text included, is refused."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ValueError(f"{_show(text)} is not an RFC 3339 timestamp such as {EXAMPLE}")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = m.groups()
    if not zulu and not sign:
        raise ValueError(f"{_show(text)} is not an RFC 3339 timestamp: it needs a time zone offset (Z or +hh:mm)")
    try:
        zone = UTC if zulu else timezone((-1 if sign == "-" else 1) * timedelta(hours=int(off_h), minutes=int(off_m)))
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second),
            int((fraction or "")[:6].ljust(6, "0")), tzinfo=zone,
        )  # fmt: skip
    except ValueError as exc:
        raise ValueError(f"{_show(text)} is not a valid RFC 3339 timestamp: {exc}") from None
    return in_utc(moment, text)


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """A query parameter's time: RFC 3339 (an offset optional: UTC), a date, a Unix time, or an age (`15m`, `24h`,
    `7d`, `2w`: that long before now)."""
    value = text.strip()
    age = _AGE.fullmatch(value.lower())
    if age:
        seconds = int(age[1]) * _AGE_SECONDS[age[2]]
        try:
            return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
        except OverflowError:
            raise OutOfRange(f"{_show(text)} is out of range: it reaches back before the year 1") from None
    if _UNIX.fullmatch(value):
        return datetime.fromtimestamp(float(value), tz=UTC)  # 9 to 11 digits: the years 1973 to 5138
    if _DATE.fullmatch(value):
        try:
            return datetime(*map(int, value.split("-")), tzinfo=UTC)
        except ValueError:
            raise ValueError(f"{_show(text)} is not a date") from None
    moment = None
    if _ISO_CHARS.fullmatch(value):
        try:
            moment = parse_datetime(value if "T" in value or "t" in value else value.replace(" ", "T", 1))
        except ValueError:
            moment = None
    if moment is None:
        raise ValueError(
            f"{_show(text)} is not a time: use RFC 3339 ({EXAMPLE}), a date, a Unix time, or an age like 24h"
        )
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else in_utc(moment, text)


def in_utc(moment: datetime, text: str) -> datetime:
    """An aware time in UTC, or OutOfRange when UTC puts it outside the years 1 to 9999."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise OutOfRange(f"{_show(text)} is out of range: in UTC it falls outside the years 1 to 9999") from None
