"""Message envelopes (POST /api/v1/messages) parsed into plain values. No database, no HTTP.

A batch is a JSON list of objects (a single object is read as a list of one). Every problem is reported with the
item's index and the field, and the whole batch is refused when any item is wrong (the view answers 400). Times are
read in UTC (PostgreSQL refuses offsets beyond ±15:59); text holding an unpaired UTF-16 surrogate is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from console.times import EXAMPLE, parse_rfc3339
from jobs.causality.choices import MESSAGING_OPERATION_ALIASES, MessagingOperation, messaging_operation_of
from jobs.ingest import SURROGATE_MESSAGE, has_unpaired_surrogate

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
MAX_ID_LENGTH = 200
MAX_OPERATION_LENGTH = 100  # as an execution's envelope `operation`
_MESSAGING_NAMES = ", ".join([*MessagingOperation.values, *MESSAGING_OPERATION_ALIASES])
_TEXT_FIELDS = ("correlation_id", "causation_id", "tenant_id", "event_type", "producer_service", "consumer_service")


@dataclass(slots=True)
class MessageEnvelope:
    message_id: str
    correlation_id: str = ""
    causation_id: str = ""
    trace_id: str = ""
    span_id: str = ""
    tenant_id: str = ""
    event_type: str = ""
    operation: str = ""  # the business operation (`checkout`), free text as in an execution's envelope
    messaging_operation: str = ""  # OpenTelemetry's messaging.operation.type: create, send, receive, process, settle
    published_at: datetime | None = None
    consumed_at: datetime | None = None
    producer_service: str = ""
    consumer_service: str = ""
    namespace: str = ""  # as the body named it; the view checks it against the caller

    def merged_with(self, later: MessageEnvelope) -> MessageEnvelope:
        """The same message reported twice: the later report fills blanks, never erases."""
        values = {}
        for f in fields(self):
            mine = getattr(self, f.name)
            values[f.name] = mine if mine not in ("", None) else getattr(later, f.name)
        return MessageEnvelope(**values)


@dataclass(frozen=True, slots=True)
class FieldError:
    index: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


@dataclass
class MessageBatchError(ValueError):
    errors: list[FieldError] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"item {e.index}, {e.field}: {e.message}" for e in self.errors[:20])


def parse_datetime_rfc3339(value: Any) -> datetime:
    """An RFC 3339 timestamp with an offset (`Z` or `+02:00`); a naive time is refused, not guessed."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be an RFC 3339 timestamp string, e.g. {EXAMPLE}")
    return parse_rfc3339(value.strip())


def _text(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("must be a string")
    text = str(value).strip()
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    if has_unpaired_surrogate(text):
        raise ValueError(SURROGATE_MESSAGE)
    if len(text) > MAX_ID_LENGTH:
        raise ValueError(f"is longer than {MAX_ID_LENGTH} characters")
    return text


def _hex(item: dict[str, Any], name: str, pattern: re.Pattern[str], size: int) -> str:
    value = item.get(name)
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise ValueError(f"must be {size} hex characters")
    text = value.strip().lower()
    if not pattern.match(text) or set(text) == {"0"}:
        raise ValueError(f"must be {size} hex characters and not all zero, got {value!r}")
    return text


def _operation(item: dict[str, Any], name: str) -> str:
    """`operation`: free text (the business operation), as an execution's envelope takes it."""
    value = item.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("must be a string")
    text = str(value).strip()
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    if has_unpaired_surrogate(text):
        raise ValueError(SURROGATE_MESSAGE)
    if len(text) > MAX_OPERATION_LENGTH:
        raise ValueError(f"is longer than {MAX_OPERATION_LENGTH} characters")
    return text


def _messaging_operation(item: dict[str, Any], name: str) -> str:
    """`messaging_operation`: one of OpenTelemetry's messaging.operation.type values (or a name read as one)."""
    value = item.get(name)
    if value in (None, ""):
        return ""
    found = messaging_operation_of(value) if isinstance(value, str) else ""
    if not found:
        raise ValueError(f"{str(value)[:80]!r} is not a messaging operation type: use one of {_MESSAGING_NAMES}")
    return found


def parse_message(index: int, item: Any, errors: list[FieldError]) -> MessageEnvelope | None:
    if not isinstance(item, dict):
        errors.append(FieldError(index, "(item)", "must be a JSON object"))
        return None
    start = len(errors)
    values: dict[str, Any] = {}

    def read(name: str, reader: Any, *args: Any) -> None:
        try:
            values[name] = reader(item, name, *args)
        except ValueError as exc:
            errors.append(FieldError(index, name, str(exc)))

    read("message_id", _text)
    if "message_id" in values and not values["message_id"]:
        errors.append(FieldError(index, "message_id", "is required"))
    for name in (*_TEXT_FIELDS, "namespace"):
        read(name, _text)
    read("trace_id", _hex, _HEX32, 32)
    read("span_id", _hex, _HEX16, 16)
    read("operation", _operation)
    read("messaging_operation", _messaging_operation)
    if not values.get("messaging_operation") and values.get("operation"):
        # Clients written before `messaging_operation` (the SDK among them) sent the messaging type as `operation`.
        values["messaging_operation"] = messaging_operation_of(values["operation"])
    for name in ("published_at", "consumed_at"):
        raw = item.get(name)
        if raw in (None, ""):
            values[name] = None
            continue
        try:
            values[name] = parse_datetime_rfc3339(raw)
        except ValueError as exc:
            errors.append(FieldError(index, name, str(exc)))
    # A W3C traceparent carried in the envelope gives the producer's context when trace_id/span_id are absent.
    traceparent = item.get("traceparent")
    if traceparent not in (None, ""):
        match = _TRACEPARENT.match(traceparent.strip().lower()) if isinstance(traceparent, str) else None
        if match is None:
            errors.append(FieldError(index, "traceparent", "must be a W3C traceparent, 00-<32 hex>-<16 hex>-<2 hex>"))
        else:
            values["trace_id"] = values.get("trace_id") or match.group(1)
            values["span_id"] = values.get("span_id") or match.group(2)
    if len(errors) > start:
        return None
    return MessageEnvelope(**values)


def parse_messages(payload: Any, *, max_batch: int) -> list[MessageEnvelope]:
    """A list of envelope objects (or one object). Raises MessageBatchError naming every bad item and field."""
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        raise MessageBatchError([FieldError(-1, "(body)", "must be a JSON list of message objects")])
    if not payload:
        raise MessageBatchError([FieldError(-1, "(body)", "is an empty list")])
    if len(payload) > max_batch:
        raise MessageBatchError([FieldError(-1, "(body)", f"holds {len(payload)} messages; at most {max_batch}")])
    errors: list[FieldError] = []
    envelopes = [parse_message(i, item, errors) for i, item in enumerate(payload)]
    if errors:
        raise MessageBatchError(errors)
    return [e for e in envelopes if e is not None]


def dedupe(envelopes: list[MessageEnvelope]) -> list[MessageEnvelope]:
    """One envelope per message_id, in first-seen order; repeats within a batch fill blanks of the first."""
    by_id: dict[str, MessageEnvelope] = {}
    for envelope in envelopes:
        seen = by_id.get(envelope.message_id)
        by_id[envelope.message_id] = envelope if seen is None else seen.merged_with(envelope)
    return list(by_id.values())
