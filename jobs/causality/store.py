"""Storing message envelopes: `record_messages` (POST /api/v1/messages) and `record_envelopes` (the envelopes that
executions and spans carry, so a message id seen only there resolves in the id lookup), which runs as a post-store
step of both writers (`envelopes_of_records`, `envelopes_of_spans`, registered in jobs/apps.py).

Fill-blank upserts keyed by (namespace, message_id): a replay changes nothing, a later report fills blanks and
never erases. The walks that read these rows are in jobs/causality/chains.py.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from django.db import connection, transaction
from django.utils import timezone

from jobs.causality.choices import MessagingOperation, messaging_operation_of
from jobs.causality.envelopes import SPAN_KIND_CLIENT, SPAN_KIND_CONSUMER, SPAN_KIND_PRODUCER, ns_to_datetime
from jobs.causality.ingest import MessageEnvelope, dedupe
from jobs.causality.models import Message
from jobs.models import Execution

if TYPE_CHECKING:
    from jobs.poststore import StoredRecords
    from traces.poststore import StoredSpans

MESSAGING_OPERATION_KEY = "messaging.operation.type"

# What an envelope says, in Message's column names.
_ENVELOPE_FIELDS = (
    "message_id",
    "correlation_id",
    "causation_id",
    "trace_id",
    "span_id",
    "tenant_id",
    "event_type",
    "operation",
    "messaging_operation",
    "published_at",
    "consumed_at",
    "producer_service",
    "consumer_service",
)
_MESSAGE_COLUMNS = ("namespace_id", *_ENVELOPE_FIELDS, "source", "received_at", "updated_at")
_FILL_NULL = ("published_at", "consumed_at")  # a later report fills them when NULL
_FILL_BLANK_TEXT = tuple(f for f in _ENVELOPE_FIELDS[1:] if f not in _FILL_NULL)  # ... and these when ''


def record_messages(namespace_id: int, envelopes: Sequence[MessageEnvelope], *, source: str = "api") -> int:
    """Upsert envelopes by (namespace, message_id) in one statement per chunk; returns how many were written.

    Replay-safe: the same message reported again changes nothing. A later report fills blanks (the consumer adds
    `consumed_at` and `consumer_service` to what the producer said) and never erases or overwrites a value.
    """
    rows = dedupe(list(envelopes))
    if not rows:
        return 0
    table = connection.ops.quote_name(Message._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _MESSAGE_COLUMNS)
    updates = [f"{c} = CASE WHEN {table}.{c} = '' THEN EXCLUDED.{c} ELSE {table}.{c} END" for c in _FILL_BLANK_TEXT]
    updates += [f"{c} = COALESCE({table}.{c}, EXCLUDED.{c})" for c in _FILL_NULL]
    updates.append(f"source = CASE WHEN EXCLUDED.source = 'api' THEN 'api' ELSE {table}.source END")
    updates.append("updated_at = EXCLUDED.updated_at")
    conflict = f"ON CONFLICT (namespace_id, message_id) DO UPDATE SET {', '.join(updates)}"
    if connection.vendor == "postgresql":
        _record_messages_pg(namespace_id, rows, source, conflict)
        return len(rows)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    placeholder = "(" + ", ".join(["%s"] * len(_MESSAGE_COLUMNS)) + ")"
    adapt = connection.ops.adapt_datetimefield_value
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            params: list[Any] = []
            for e in chunk:
                params += [
                    namespace_id,
                    e.message_id,
                    e.correlation_id,
                    e.causation_id,
                    e.trace_id,
                    e.span_id,
                    e.tenant_id,
                    e.event_type,
                    e.operation,
                    e.messaging_operation,
                    adapt(e.published_at),
                    adapt(e.consumed_at),
                    e.producer_service,
                    e.consumer_service,
                    source,
                    now,
                    now,
                ]
            sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join([placeholder] * len(chunk))} {conflict}"  # noqa: S608
            cursor.execute(sql, params)
    return len(rows)


# The envelope fields as JSON records, typed for json_to_recordset (constant names and types only).
_JSON_RECORD = ", ".join(f"{name} {'timestamptz' if name in _FILL_NULL else 'text'}" for name in _ENVELOPE_FIELDS)
_SELECT_RECORDS = (
    f"SELECT %(ns)s, {', '.join(f'm.{name}' for name in _ENVELOPE_FIELDS)}, %(source)s, %(now)s, %(now)s "  # noqa: S608
    f"FROM json_to_recordset(%(rows)s::json) AS m({_JSON_RECORD})"
)
_envelope_values = operator.attrgetter(*_ENVELOPE_FIELDS)


def _record_messages_pg(namespace_id: int, rows: Sequence[MessageEnvelope], source: str, conflict: str) -> None:
    """PostgreSQL: every envelope in one JSON parameter. A VALUES list takes 16 parameters per envelope, and psycopg
    binds them client-side in Python: 512 envelopes cost ~90 µs of Python and ~50 µs of PostgreSQL CPU each, which
    made ingest of spans that carry message ids several times slower than of spans without."""
    records = [dict(zip(_ENVELOPE_FIELDS, _envelope_values(e), strict=True)) for e in rows]
    table = connection.ops.quote_name(Message._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _MESSAGE_COLUMNS)
    sql = f"INSERT INTO {table} ({columns}) {_SELECT_RECORDS} {conflict}"
    params = {"ns": namespace_id, "rows": orjson.dumps(records).decode(), "source": source, "now": timezone.now()}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def envelopes_from_executions(executions: Iterable[Execution]) -> dict[int, list[MessageEnvelope]]:
    """Trigger envelopes of executions, per namespace id (the consumer's side of the message)."""
    out: dict[int, list[MessageEnvelope]] = {}
    for e in executions:
        if not e.message_id:
            continue
        out.setdefault(e.namespace_id, []).append(
            MessageEnvelope(
                message_id=e.message_id,
                correlation_id=e.correlation_id,
                causation_id=e.causation_id,
                trace_id=e.envelope_trace_id,
                tenant_id=e.tenant_id,
                event_type=e.event_type,
                operation=e.operation[:100],
                # The run consumed the message: that is its messaging operation, unless its envelope names one.
                messaging_operation=messaging_operation_of(e.operation) or MessagingOperation.PROCESS,
                consumed_at=e.started_at or e.scheduled_at,
            )
        )
    return out


def envelopes_from_spans(spans: Iterable[Any], namespace_id: int | None = None) -> dict[int, list[MessageEnvelope]]:
    """Envelopes seen on spans, per namespace id: Span rows, or parsed spans (traces.ingest.spans.ParsedSpan) with
    `namespace_id` given, since a parsed span does not know its namespace yet."""
    out: dict[int, list[MessageEnvelope]] = {}
    for s in spans:
        if not s.message_id:
            continue
        ns_id = getattr(s, "namespace_id", None) or namespace_id
        if ns_id is None:
            raise ValueError("envelopes_from_spans needs namespace_id for spans that carry none")
        at = ns_to_datetime(s.start_ns)
        producer = s.kind in (SPAN_KIND_PRODUCER, SPAN_KIND_CLIENT)
        service = _fit(s.service)
        out.setdefault(ns_id, []).append(
            MessageEnvelope(
                message_id=_fit(s.message_id),
                correlation_id=_fit(s.correlation_id),
                causation_id=_fit(s.causation_id),
                trace_id=s.trace_id if producer else "",
                span_id=s.span_id if producer else "",
                messaging_operation=_span_messaging_operation(s, producer),
                published_at=at if producer else None,
                consumed_at=at if s.kind == SPAN_KIND_CONSUMER else None,
                producer_service=service if producer else "",
                consumer_service=service if s.kind == SPAN_KIND_CONSUMER else "",
            )
        )
    return out


def _span_messaging_operation(span: Any, producer: bool) -> str:
    """The span's own `messaging.operation.type` when it names one, else what its kind says."""
    named = (span.attributes or {}).get(MESSAGING_OPERATION_KEY) if isinstance(span.attributes, dict) else None
    found = messaging_operation_of(named) if isinstance(named, str) else ""
    if found:
        return found
    if producer:
        return MessagingOperation.SEND
    return MessagingOperation.PROCESS if span.kind == SPAN_KIND_CONSUMER else ""


def _fit(text: str, limit: int = 200) -> str:
    """A span's text as a Message column holds it: spans are stored as received (a NUL becomes U+FFFD, a service
    name may run to 255), Message's text columns take 200 characters and no NUL."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text[:limit]


def record_envelopes(
    executions: Iterable[Execution] = (), spans: Iterable[Any] = (), *, namespace_id: int | None = None
) -> int:
    """Optional: make Message rows of envelopes seen on executions and spans (fill-blank upsert, replay-safe).

    Chains never need this (they read executions and spans directly); it makes a message id that was only seen on
    an execution or a span resolvable by the id lookup (console/lookup.py reads Message rows). Safe to call from
    the execution and span writers after their upsert, inside their transaction: one INSERT ... ON CONFLICT per
    namespace, nothing when no record carries a message id. `namespace_id` is needed for parsed spans only.
    """
    written = 0
    for ns_id, envelopes in envelopes_from_executions(executions).items():
        written += record_messages(ns_id, envelopes, source="execution")
    for ns_id, envelopes in envelopes_from_spans(spans, namespace_id).items():
        written += record_messages(ns_id, envelopes, source="span")
    return written


def envelopes_of_records(stored: StoredRecords) -> None:
    """Record step: Message rows for the trigger envelopes of the executions a write created or changed."""
    messaging = [e for e in stored.executions if e.message_id]
    if messaging:
        record_envelopes(executions=messaging)


def envelopes_of_spans(stored: StoredSpans) -> None:
    """Span step: Message rows for the message ids on the spans a write stored (a resent copy adds none)."""
    if any(s.message_id for s in stored.stored):
        record_envelopes(spans=stored.stored, namespace_id=stored.namespace_id)
