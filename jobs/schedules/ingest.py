"""A job declaration as a caller sends it (`PUT /api/v1/jobs/<ns>/<job>`), read into validated values. No database.

Only the fields present are returned: a field left out keeps its stored value. Errors name the field, as DRF's
400s do: {"schedule": ["..."], "timezone": ["..."]}; nothing is stored when any field is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobs.choices import JobKind
from jobs.schedules.ticks import InvalidSchedule, InvalidTimezone, parse_schedule, zone

FIELDS = (
    "kind",
    "schedule",
    "timezone",
    "grace_seconds",
    "max_runtime_seconds",
    "owner",
    "description",
    "labels",
)
MAX_SECONDS = 31 * 86400
MAX_LABELS = 50


class InvalidDeclaration(ValueError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class Declaration:
    values: dict[str, Any]  # model field -> value, only for the fields given


def _seconds(value: Any, *, minimum: int, nullable: bool) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError("must be a whole number of seconds" + (" or null" if nullable else ""))
    if not minimum <= int(value) <= MAX_SECONDS:
        raise ValueError(f"must be between {minimum} and {MAX_SECONDS} (31 days)")
    return int(value)


def _text(value: Any, max_length: int) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > max_length:
        raise ValueError(f"must be at most {max_length} characters")
    return value.strip()


def _labels(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError("must be an object of string keys and string values")
    if len(value) > MAX_LABELS:
        raise ValueError(f"must have at most {MAX_LABELS} labels")
    bad = [k for k, v in value.items() if not isinstance(v, str) or not k or len(k) > 100 or len(v) > 500]
    if bad:
        raise ValueError(f"label {bad[0]!r}: keys 1-100 characters, values strings of at most 500")
    return dict(value)


def parse_declaration(body: Any, *, stored_timezone: str = "UTC") -> Declaration:
    """Validate the body; `stored_timezone` is the job's current zone (the schedule is checked in the zone it will
    run in: the body's when it names one)."""
    if not isinstance(body, dict):
        raise InvalidDeclaration({"non_field_errors": ["The body must be a JSON object of the job's fields."]})
    errors: dict[str, list[str]] = {name: ["Unknown field."] for name in sorted(set(body) - set(FIELDS))}
    values: dict[str, Any] = {}

    def read(name: str, reader: Any) -> None:
        if name not in body:
            return
        try:
            values[name] = reader(body[name])
        except (ValueError, InvalidSchedule, InvalidTimezone) as exc:
            errors[name] = [str(exc)]

    read("kind", _kind)
    read("timezone", lambda v: zone(v).key)
    read("grace_seconds", lambda v: _seconds(v, minimum=0, nullable=False))
    read("max_runtime_seconds", lambda v: _seconds(v, minimum=1, nullable=True))
    read("owner", lambda v: _text(v, 200))
    read("description", lambda v: _text(v, 10_000))
    read("labels", _labels)
    if "schedule" in body:
        raw = body["schedule"]
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            values["schedule"] = ""  # no schedule: nothing is expected
        elif "timezone" not in errors:
            try:
                parsed = parse_schedule(raw, values.get("timezone", stored_timezone))
            except InvalidSchedule as exc:
                errors["schedule"] = [str(exc)]
            else:
                values["schedule"] = parsed.expression
    if errors:
        raise InvalidDeclaration(errors)
    return Declaration(values)


def _kind(value: Any) -> str:
    if value not in JobKind.values:
        raise ValueError(f"must be one of {', '.join(JobKind.values)}")
    return str(value)
