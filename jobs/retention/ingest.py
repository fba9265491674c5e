"""The retention form's values: whole days, 1 to 3650, spans kept no longer than records (pure)."""

from __future__ import annotations

from dataclasses import dataclass

MAX_DAYS = 3650


class InvalidRetention(ValueError):
    """`field` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Retention:
    span_days: int
    record_days: int


def parse_days(field: str, raw: str) -> int:
    try:
        days = int(raw.strip())
    except (AttributeError, ValueError):
        raise InvalidRetention(field, f"{field} must be a whole number of days") from None
    if not 1 <= days <= MAX_DAYS:
        raise InvalidRetention(field, f"{field} must be between 1 and {MAX_DAYS} days")
    return days


def parse_retention(span_raw: str, record_raw: str) -> Retention:
    span_days = parse_days("span_days", span_raw)
    record_days = parse_days("record_days", record_raw)
    if span_days > record_days:
        # A span outliving its execution would lose its owner: the summaries and links would no longer hold.
        raise InvalidRetention("span_days", "spans cannot be kept longer than records")
    return Retention(span_days, record_days)
