"""Log rows as pages show them (pure): the time, the severity's name and class, the body as text, the owner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from console import links
from traces.logs.models import LogRecord

_NAMES = ("", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
BODY_CHARS = 4000


@dataclass(frozen=True)
class LogRow:
    pk: int
    time: str
    severity: str
    level: str  # css class: trace debug info warn error fatal
    service: str
    body: str
    trace_url: str
    owner: str
    owner_url: str
    attributes: list[tuple[str, Any]]


def severity_name(number: int, text: str) -> str:
    return text or (_NAMES[(number - 1) // 4 + 1] if 1 <= number <= 24 else "")


def level(number: int) -> str:
    return _NAMES[(number - 1) // 4 + 1].lower() if 1 <= number <= 24 else "unset"


def format_time(time_ns: int) -> str:
    try:
        moment = datetime.fromtimestamp(time_ns / 1e9, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return str(time_ns)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def log_rows(records: list[LogRecord]) -> list[LogRow]:
    out = []
    for r in records:
        body = r.body if isinstance(r.body, str) else r.body_text
        owner = owner_url = ""
        if r.shard_id and r.shard and r.execution and r.job:
            owner = f"{r.job.name} · run {r.execution.execution_id} · shard {r.shard.shard_id}"
            owner_url = links.shard_url(r.namespace.name, r.job.name, r.execution.execution_id, r.shard.shard_id)
        elif r.execution_id and r.execution and r.job:
            owner = f"{r.job.name} · run {r.execution.execution_id}"
            owner_url = links.execution_url(r.namespace.name, r.job.name, r.execution.execution_id)
        out.append(
            LogRow(
                pk=r.pk,
                time=format_time(r.time_ns),
                severity=severity_name(r.severity_number, r.severity_text),
                level=level(r.severity_number),
                service=r.service,
                body=body[:BODY_CHARS],
                trace_url=links.trace_url(r.trace_id, r.span_id or None) if r.trace_id else "",
                owner=owner,
                owner_url=owner_url,
                attributes=sorted(r.attributes.items()) if isinstance(r.attributes, dict) else [],
            )
        )
    return out
