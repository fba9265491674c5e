"""Execution and shard records (POST /api/v1/executions, /api/v1/shards) parsed into plain dataclasses.

No database, no HTTP: bytes or decoded JSON in, dataclasses or an `InvalidRecords` listing every problem by item
index and field out. Hand-written rather than a DRF serializer because a batch holds up to 1,000 records and
ingest must stay fast (see bench/records.py); `jobs/api/serializers.py` describes the same bodies for OpenAPI.

Conventions (docs/api.md, "Records"):
- `null`, `""` and `{}` mean "not known": such a field is left out of the record (None here), so a late or
  partial record never blanks out what is stored. Only `job`, `execution_id` (and `shard_id`) are required.
- `trace_id` is 32 hex digits and `span_id` 16 (upper case accepted, stored lower case; all-zero refused).
- Times are RFC 3339 with an offset; a naive time is refused rather than guessed. They are read in UTC (PostgreSQL
  refuses offsets beyond ±15:59), and one that falls outside the years 1 to 9999 in UTC is refused.
- `params` must be standard JSON: NaN, Infinity and numbers too large for a double (1e999) are refused.
- Ids may be sent as strings or integers (schedulers often number their runs); they are kept as strings.
- An unknown field is refused, so a typo (`"stauts"`) does not silently drop data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from console.times import parse_rfc3339
from jobs.choices import RunStatus, Trigger

_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_ZERO32 = "0" * 32
_ZERO16 = "0" * 16
_STATUSES = frozenset(RunStatus.values)
_TRIGGERS = frozenset(Trigger.values)
_INT32_MAX = 2_147_483_647
# An answer listing thousands of errors helps nobody; the first ones name the pattern.
MAX_ERRORS = 100


@dataclass(frozen=True, slots=True)
class RecordError:
    """One problem: `index` is the item's position in the batch (None for the body as a whole)."""

    index: int | None
    field: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


class InvalidRecords(ValueError):
    """The batch is refused as a whole; `errors` names every problem found (up to MAX_ERRORS)."""

    def __init__(self, errors: list[RecordError]) -> None:
        super().__init__("; ".join(f"item {e.index}, {e.field}: {e.message}" for e in errors[:5]))
        self.errors = errors


@dataclass(slots=True)
class ExecutionRecord:
    """One execution as reported. None means "not sent": the stored value is kept."""

    job: str
    execution_id: str
    namespace: str | None = None
    trigger: str | None = None
    status: str | None = None
    scheduled_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempt: int | None = None
    worker: str | None = None
    params: dict[str, Any] | None = None
    error: str | None = None
    trace_id: str | None = None
    sampled: bool | None = None
    # The trigger envelope, flattened onto the execution's columns.
    message_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    envelope_trace_id: str | None = None
    tenant_id: str | None = None
    event_type: str | None = None
    operation: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.job, self.execution_id)

    def sent(self) -> frozenset[str]:
        """Names of the value fields this record carries (keys excluded)."""
        return frozenset(name for name in EXECUTION_VALUE_FIELDS if getattr(self, name) is not None)


@dataclass(slots=True)
class ShardRecord:
    """One shard as reported. None means "not sent": the stored value is kept."""

    job: str
    execution_id: str
    shard_id: str
    namespace: str | None = None
    parent_shard_id: str | None = None
    index: int | None = None
    labels: dict[str, str] | None = None
    status: str | None = None
    worker: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempt: int | None = None
    error: str | None = None
    trace_id: str | None = None
    span_id: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.job, self.execution_id, self.shard_id)

    def sent(self) -> frozenset[str]:
        return frozenset(name for name in SHARD_VALUE_FIELDS if getattr(self, name) is not None)


_KEY_FIELDS = frozenset({"namespace", "job", "execution_id", "shard_id"})
EXECUTION_VALUE_FIELDS = tuple(f.name for f in fields(ExecutionRecord) if f.name not in _KEY_FIELDS)
SHARD_VALUE_FIELDS = tuple(f.name for f in fields(ShardRecord) if f.name not in _KEY_FIELDS)


# --- value checks: each returns the clean value, None for "not sent", or raises _Bad(message) ----------------


class _Bad(Exception):
    pass


_Check = Callable[[Any], Any]


def _text(max_length: int) -> _Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            raise _Bad(f"must be a string, not {_type_name(value)}")
        if value == "":
            return None
        if len(value) > max_length:
            raise _Bad(f"is {len(value)} characters long; at most {max_length} are allowed")
        if "\x00" in value:
            raise _Bad("must not contain NUL characters")
        return value

    return check


def _long_text(value: Any) -> str | None:
    if not isinstance(value, str):
        raise _Bad(f"must be a string, not {_type_name(value)}")
    if "\x00" in value:
        raise _Bad("must not contain NUL characters")
    return value or None


def _identifier(max_length: int) -> _Check:
    """A scheduler's id: a non-empty string, or an integer kept as its decimal string."""
    text = _text(max_length)

    def check(value: Any) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return text(value)

    return check


def _hex_id(pattern: re.Pattern[str], digits: int, zero: str) -> _Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            raise _Bad(f"must be a string of {digits} hex digits, not {_type_name(value)}")
        if value == "":
            return None
        lowered = value.lower()
        if len(lowered) != digits or not pattern.fullmatch(lowered):
            raise _Bad(f"must be {digits} hex digits, got {value[:80]!r}")
        if lowered == zero:
            raise _Bad("must not be all zeros (the W3C trace context's invalid id)")
        return lowered

    return check


def _choice(allowed: frozenset[str], what: str) -> _Check:
    listed = ", ".join(sorted(allowed))

    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise _Bad(f"{value!r} is not a known {what}; use one of {listed}")
        return value

    return check


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _Bad(f"must be an RFC 3339 timestamp string, not {_type_name(value)}")
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise _Bad(str(exc)) from None


def _integer(minimum: int, maximum: int) -> _Check:
    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Bad(f"must be an integer, not {_type_name(value)}")
        if not minimum <= value <= maximum:
            raise _Bad(f"must be between {minimum} and {maximum}, got {value}")
        return value

    return check


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"must be true or false, not {_type_name(value)}")
    return value


def _params(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        raise _Bad(f"must be a JSON object, not {_type_name(value)}")
    if not value:
        return None
    try:
        # json.loads reads NaN/Infinity and turns 1e999 into inf; PostgreSQL's JSON holds none of them.
        dumped = json.dumps(value, allow_nan=False)
    except ValueError:
        raise _Bad("NaN/Infinity is not valid JSON") from None
    if "\\u0000" in dumped:
        raise _Bad("must not contain NUL characters")
    return value


def _labels(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        raise _Bad(f"must be a JSON object of strings, not {_type_name(value)}")
    for key, item in value.items():
        if not key or len(key) > 200 or "\x00" in key:
            raise _Bad(f"label names must be 1 to 200 characters without NUL, got {key[:80]!r}")
        if not isinstance(item, str):
            raise _Bad(f"label {key!r} must be a string, not {_type_name(item)}")
        if "\x00" in item:
            raise _Bad(f"label {key!r} must not contain NUL characters")
    return value or None


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer"}.get(
        type(value), type(value).__name__
    )


_trace_id = _hex_id(_HEX32, 32, _ZERO32)
_span_id = _hex_id(_HEX16, 16, _ZERO16)
_attempt = _integer(1, _INT32_MAX)
_status = _choice(_STATUSES, "status")

_ENVELOPE_CHECKS: dict[str, tuple[str, _Check]] = {
    # envelope key -> (execution attribute, check)
    "message_id": ("message_id", _text(200)),
    "correlation_id": ("correlation_id", _text(200)),
    "causation_id": ("causation_id", _text(200)),
    "trace_id": ("envelope_trace_id", _trace_id),
    "tenant_id": ("tenant_id", _text(200)),
    "event_type": ("event_type", _text(200)),
    "operation": ("operation", _text(100)),
}

_EXECUTION_CHECKS: dict[str, _Check] = {
    "namespace": _text(100),
    "job": _text(200),
    "execution_id": _identifier(128),
    "trigger": _choice(_TRIGGERS, "trigger"),
    "status": _status,
    "scheduled_at": _timestamp,
    "started_at": _timestamp,
    "finished_at": _timestamp,
    "attempt": _attempt,
    "worker": _text(200),
    "params": _params,
    "error": _long_text,
    "trace_id": _trace_id,
    "sampled": _boolean,
}

_SHARD_CHECKS: dict[str, _Check] = {
    "namespace": _text(100),
    "job": _text(200),
    "execution_id": _identifier(128),
    "shard_id": _identifier(128),
    "parent_shard_id": _identifier(128),
    "index": _integer(-_INT32_MAX - 1, _INT32_MAX),
    "labels": _labels,
    "status": _status,
    "worker": _text(200),
    "started_at": _timestamp,
    "finished_at": _timestamp,
    "attempt": _attempt,
    "error": _long_text,
    "trace_id": _trace_id,
    "span_id": _span_id,
}


# --- the parsers -----------------------------------------------------------------------------------------------


def decode_json(body: bytes) -> Any:
    """The request body as JSON, or InvalidRecords naming where it stops being JSON."""
    if not body.strip():
        raise InvalidRecords([RecordError(None, None, "The body is empty; send a JSON object or list.")])
    try:
        # NaN/Infinity (and 1e999, read as inf) are kept here and refused by the field that holds them, with its
        # item index; every other field's type check refuses a float already.
        data = json.loads(body)
    except UnicodeDecodeError:
        raise InvalidRecords([RecordError(None, None, "The body is not UTF-8 encoded JSON.")]) from None
    except json.JSONDecodeError as exc:
        message = f"The body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
        raise InvalidRecords([RecordError(None, None, message)]) from None
    except ValueError:
        # Python refuses to read an integer of more than 4,300 digits (sys.int_max_str_digits).
        message = "The body is not valid JSON here: it holds an integer of more than 4,300 digits."
        raise InvalidRecords([RecordError(None, None, message)]) from None
    except RecursionError:
        message = "The body is not valid JSON here: its lists and objects are nested too deeply."
        raise InvalidRecords([RecordError(None, None, message)]) from None
    if _SURROGATE_ESCAPE.search(body):
        _refuse_unpaired_surrogates(data)
    return data


# `\ud800`..`\udfff` escapes decode to surrogates, which no database text column can hold when unpaired.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
# A pair (`\ud83d\ude00`) decodes to one character, so a surrogate left in a str is an unpaired half.
_SURROGATE = re.compile("[\ud800-\udfff]")
SURROGATE_MESSAGE = "holds a \\u escape of an unpaired UTF-16 surrogate, which is not text"


def has_unpaired_surrogate(value: Any) -> bool:
    """True when `value` (a str, or decoded JSON holding strs, keys included) holds an unpaired UTF-16 surrogate.

    UTF-8 cannot encode one, so storing it fails with UnicodeEncodeError; parsers refuse it first (messages too).
    """
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except (TypeError, ValueError):
        return False
    return False


def _refuse_unpaired_surrogates(data: Any) -> None:
    """InvalidRecords naming the first item (and its field, unless the field's name is the bad text) holding one."""
    items = data if isinstance(data, list) else [data]
    for index, item in enumerate(items):
        if not has_unpaired_surrogate(item):
            continue
        field = None
        if isinstance(item, dict):
            field = next(
                (k for k, v in item.items() if not has_unpaired_surrogate(k) and has_unpaired_surrogate(v)), None
            )
        raise InvalidRecords([RecordError(index, field, SURROGATE_MESSAGE)])


def parse_executions(data: Any, *, max_batch: int) -> list[ExecutionRecord]:
    """One execution object or a list of them (at most max_batch) -> records, or InvalidRecords."""
    items = _as_items(data, max_batch, allow_single=True)
    required = ("job", "execution_id")
    errors: list[RecordError] = []
    records: list[ExecutionRecord] = []
    for index, item in enumerate(items):
        values = _check_item(index, item, _EXECUTION_CHECKS, required, errors, envelope=True)
        if values is not None:
            records.append(ExecutionRecord(**values))
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise InvalidRecords(errors[:MAX_ERRORS])
    return records


def parse_shards(data: Any, *, max_batch: int) -> list[ShardRecord]:
    """A list of shard objects (a single object is read as a list of one) -> records, or InvalidRecords."""
    items = _as_items(data, max_batch, allow_single=True)
    required = ("job", "execution_id", "shard_id")
    errors: list[RecordError] = []
    records: list[ShardRecord] = []
    for index, item in enumerate(items):
        values = _check_item(index, item, _SHARD_CHECKS, required, errors, envelope=False)
        if values is not None:
            records.append(ShardRecord(**values))
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise InvalidRecords(errors[:MAX_ERRORS])
    return records


def _as_items(data: Any, max_batch: int, *, allow_single: bool) -> list[Any]:
    if isinstance(data, dict) and allow_single:
        return [data]
    if not isinstance(data, list):
        raise InvalidRecords(
            [RecordError(None, None, f"Send a JSON object or a list of objects, not {_type_name(data)}.")]
        )
    if len(data) > max_batch:
        message = f"A batch holds at most {max_batch} records; this one has {len(data)}. Split it."
        raise InvalidRecords([RecordError(None, None, message)])
    return data


def _check_item(
    index: int,
    item: Any,
    checks: dict[str, _Check],
    required: Iterable[str],
    errors: list[RecordError],
    *,
    envelope: bool,
) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        errors.append(RecordError(index, None, f"must be a JSON object, not {_type_name(item)}"))
        return None
    values: dict[str, Any] = {}
    before = len(errors)
    for name, raw in item.items():
        if raw is None:
            continue
        check = checks.get(name)
        if check is None:
            if envelope and name == "envelope":
                _check_envelope(index, raw, values, errors)
                continue
            allowed = ", ".join(sorted([*checks, "envelope"] if envelope else checks))
            errors.append(RecordError(index, name, f"is not a known field; known fields are {allowed}"))
            continue
        try:
            value = check(raw)
        except _Bad as bad:
            errors.append(RecordError(index, name, str(bad)))
            continue
        if value is not None:
            values[name] = value
    for name in required:
        if name not in values and item.get(name) in (None, ""):
            errors.append(RecordError(index, name, "is required"))
    return values if len(errors) == before else None


def _check_envelope(index: int, raw: Any, values: dict[str, Any], errors: list[RecordError]) -> None:
    if not isinstance(raw, dict):
        errors.append(RecordError(index, "envelope", f"must be a JSON object, not {_type_name(raw)}"))
        return
    for key, value in raw.items():
        if value is None:
            continue
        spec = _ENVELOPE_CHECKS.get(key)
        if spec is None:
            known = ", ".join(sorted(_ENVELOPE_CHECKS))
            errors.append(RecordError(index, f"envelope.{key}", f"is not a known field; known fields are {known}"))
            continue
        attribute, check = spec
        try:
            clean = check(value)
        except _Bad as bad:
            errors.append(RecordError(index, f"envelope.{key}", str(bad)))
            continue
        if clean is not None:
            values[attribute] = clean
