"""Plain values every span parser produces: `ParsedSpan` rows and a `ParseResult` with what was rejected and why.

No database, no HTTP: parsers turn bytes or JSON into these, the writer (traces/store.py) stores them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

UNKNOWN_SERVICE = "unknown_service"
MAX_ERROR_MESSAGES = 20

# Canonical job and messaging attributes, read from the span first, then its resource.
JOB_KEYS = ("job.namespace", "job.name", "job.execution.id", "job.shard.id")
MESSAGE_ID_KEYS = ("messaging.message.id", "message_id")
CORRELATION_KEYS = ("messaging.message.conversation_id", "correlation_id")
CAUSATION_KEYS = ("causation_id",)

_HEX = re.compile(r"^[0-9a-fA-F]+$")


class ParseError(ValueError):
    """The whole payload is unreadable (not a partial rejection): the receiver answers 400."""


@dataclass(slots=True)
class ParsedSpan:
    trace_id: str  # 32 lower-case hex
    span_id: str  # 16 lower-case hex
    parent_span_id: str  # 16 lower-case hex or ""
    name: str
    service: str
    kind: int = 0
    start_ns: int = 0
    duration_ns: int = 0
    status_code: int = 0
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)  # shared between the spans of one resource
    scope: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(
        default_factory=list
    )  # {"trace_id","span_id","trace_state","attributes","ref_type"}
    trace_state: str = ""
    flags: int = 0
    job_namespace: str = ""
    job_name: str = ""
    job_execution_id: str = ""
    job_shard_id: str = ""
    message_id: str = ""
    correlation_id: str = ""
    causation_id: str = ""


@dataclass
class ParseResult:
    spans: list[ParsedSpan] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)  # why spans were rejected (first MAX_ERROR_MESSAGES)
    warnings: list[str] = field(default_factory=list)  # kept, but worth saying (e.g. hashed non-hex ids)
    format: str = ""

    def reject(self, message: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_ERROR_MESSAGES:
            self.errors.append(message)

    def warn(self, message: str) -> None:
        if len(self.warnings) < MAX_ERROR_MESSAGES and message not in self.warnings:
            self.warnings.append(message)

    def extend(self, other: ParseResult) -> None:
        self.spans.extend(other.spans)
        self.rejected += other.rejected
        for message in other.errors:
            if len(self.errors) < MAX_ERROR_MESSAGES:
                self.errors.append(message)
        for message in other.warnings:
            self.warn(message)

    @property
    def error_message(self) -> str:
        if not self.rejected:
            return ""
        more = self.rejected - len(self.errors)
        text = "; ".join(self.errors)
        return f"{self.rejected} span(s) rejected: {text}" + (f" (and {more} more)" if more > 0 else "")


# --- ids -------------------------------------------------------------------------------------------------------


def hex_id(value: Any, width: int) -> str | None:
    """A hex id, lower case, left-padded to `width` chars (Jaeger before 1.16 dropped leading zeros); else None."""
    if not isinstance(value, str) or not value or len(value) > width or not _HEX.match(value):
        return None
    return value.lower().rjust(width, "0")


def hashed_id(value: str, width: int) -> str:
    """A deterministic hex id for an id that is not hex (e.g. Jaeger UI test data's `trace-123`)."""
    return hashlib.sha256(value.encode()).hexdigest()[:width]


def is_zero(hex_value: str) -> bool:
    return hex_value.count("0") == len(hex_value)


# --- times -----------------------------------------------------------------------------------------------------

MAX_NS = 2**63 - 1  # PostgreSQL's bigint: a span's start, its duration and their sum (the end) must each fit


def times_error(start_ns: int, duration_ns: int) -> str | None:
    """Why a span's times cannot be stored, or None. The end (start + duration) is checked too: summaries add them."""
    if start_ns < 0 or duration_ns < 0 or start_ns + duration_ns > MAX_NS:
        return "times must be non-negative and end before 2^63 ns after the epoch (the year 2262)"
    return None


# --- attribute aliases and extraction -------------------------------------------------------------------------


def aliases_from_settings() -> dict[str, str]:
    """settings.JOBTRACE_ATTRIBUTE_ALIASES ("alias=canonical" pairs) as {alias: canonical}."""
    try:
        from django.conf import settings

        pairs = list(getattr(settings, "JOBTRACE_ATTRIBUTE_ALIASES", []) or [])
    except Exception:  # settings not configured: a parser used outside Django
        pairs = []
    return parse_aliases(pairs)


def parse_aliases(pairs: list[str]) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for pair in pairs:
        alias, sep, canonical = pair.partition("=")
        if sep and alias.strip() and canonical.strip():
            aliases[alias.strip()] = canonical.strip()
    return aliases


def _as_text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _first(keys: tuple[str, ...], attributes: Mapping[str, Any], resource: Mapping[str, Any]) -> str:
    for source in (attributes, resource):
        for key in keys:
            if key in source:
                text = _as_text(source[key])
                if text:
                    return text
    return ""


class Extractor:
    """Fills a span's job.* and messaging columns from its attributes or resource, honouring aliases."""

    def __init__(self, aliases: Mapping[str, str] | None = None) -> None:
        self.aliases = dict(aliases_from_settings() if aliases is None else aliases)
        keys: dict[str, list[str]] = {k: [k] for k in JOB_KEYS}
        for alias, canonical in self.aliases.items():
            if canonical in keys:
                keys[canonical].append(alias)
        self.job_keys = {k: tuple(v) for k, v in keys.items()}
        self._resource_cache: dict[int, tuple[str, ...]] = {}
        self.interesting = {"job.namespace", "job.name", "job.execution.id", "job.shard.id", *self.aliases}
        self.interesting.update(MESSAGE_ID_KEYS + CORRELATION_KEYS + CAUSATION_KEYS)

    def _values(self, attributes: Mapping[str, Any], resource: Mapping[str, Any]) -> tuple[str, ...]:
        k = self.job_keys
        return (
            _first(k["job.namespace"], attributes, resource),
            _first(k["job.name"], attributes, resource),
            _first(k["job.execution.id"], attributes, resource),
            _first(k["job.shard.id"], attributes, resource),
            _first(MESSAGE_ID_KEYS, attributes, resource),
            _first(CORRELATION_KEYS, attributes, resource),
            _first(CAUSATION_KEYS, attributes, resource),
        )

    def job_values(self, attributes: Mapping[str, Any], resource: Mapping[str, Any]) -> tuple[str, str, str, str]:
        """(job.namespace, job.name, job.execution.id, job.shard.id) as `apply` stores them, for a stored span's
        attributes and resource (`manage.py relink`)."""
        ns, name, execution, shard = self._values(attributes or {}, resource or {})[:4]
        return ns[:200], name[:200], execution[:128], shard[:128]

    def apply(self, span: ParsedSpan) -> None:
        attributes = span.attributes
        if attributes and not self.interesting.isdisjoint(attributes):
            values = self._values(attributes, span.resource)
        else:  # the common case: nothing on the span itself, so the resource decides (computed once per resource)
            key = id(span.resource)
            cached = self._resource_cache.get(key)
            if cached is None:
                cached = self._values({}, span.resource) if span.resource else ("",) * 7
                self._resource_cache[key] = cached
            values = cached
        if any(values):
            (
                span.job_namespace,
                span.job_name,
                span.job_execution_id,
                span.job_shard_id,
                span.message_id,
                span.correlation_id,
                span.causation_id,
            ) = (v[:200] for v in values)
            span.job_execution_id = span.job_execution_id[:128]
            span.job_shard_id = span.job_shard_id[:128]


def dedupe(spans: list[ParsedSpan]) -> list[ParsedSpan]:
    """One span per (trace id, span id): the first one wins, as exporters retry with the same content."""
    seen: set[tuple[str, str]] = set()
    out: list[ParsedSpan] = []
    for span in spans:
        key = (span.trace_id, span.span_id)
        if key not in seen:
            seen.add(key)
            out.append(span)
    return out
