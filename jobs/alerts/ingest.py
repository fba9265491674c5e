"""Alertmanager (webhook version 4) and Grafana Alerting (version 1) notifications -> plain dataclasses.

Pure: bytes or decoded JSON in, dataclasses out; no database, no HTTP. What the senders really post (see
../shared/fixtures/alertmanager and grafana_alerting) is looser than their documentation:

- legacy Alertmanager payloads carry no per-alert `status` or `fingerprint` (the group's status applies, and the
  fingerprint is computed from the labels exactly as Alertmanager computes it, so it matches a newer sender's);
- a firing alert's `endsAt` is Go's zero time `0001-01-01T00:00:00Z`, which means "not ended" (None here);
- times carry nanoseconds and offsets (`2018-03-07T06:33:21.873077559-05:00`);
- one sent fingerprint shared by alerts with different labels (seen in hand-edited payloads) is replaced by
  each alert's label fingerprint, so no alert swallows another;
- a group may be cut short by `max_alerts` (`truncatedAlerts` > 0);
- Grafana adds orgId/title/state/message and per alert silenceURL, dashboardURL, panelURL, values, valueString.

Anything wrong raises `PayloadError`, whose `errors` name the field (`alerts[2].startsAt`) and what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from console.times import OutOfRange, parse_rfc3339
from jobs.alerts.choices import AlertSource, AlertStatus

MAX_ALERTS = 1000
_FNV64_OFFSET = 14695981039346656037
_FNV64_PRIME = 1099511628211
_LABEL_SEPARATOR = 0xFF  # prometheus/common model.SeparatorByte
_STATUSES = {AlertStatus.FIRING.value, AlertStatus.RESOLVED.value}


class PayloadError(ValueError):
    """The notification cannot be read. `errors` maps a field path to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors.items()))


@dataclass(frozen=True)
class ParsedAlert:
    status: str  # AlertStatus value; the group's when the alert names none
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None  # None while firing (Go's zero time)
    fingerprint: str
    fingerprint_computed: bool  # True when the sender sent none (legacy payloads)
    generator_url: str = ""
    # Grafana only: silence_url, dashboard_url, panel_url, values, value_string (as sent, when present).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


@dataclass(frozen=True)
class Notification:
    source: str  # AlertSource value
    version: str
    receiver: str
    status: str
    group_key: str
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    external_url: str
    truncated_alerts: int  # alerts the sender left out of this group (max_alerts); 0 when not said
    alerts: list[ParsedAlert]
    # Grafana only: org_id, title, state, message.
    extra: dict[str, Any] = field(default_factory=dict)


def label_fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of a label set: FNV-1a 64 over sorted names and values, 16 hex digits."""
    h = _FNV64_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode():
                h = ((h ^ byte) * _FNV64_PRIME) & 0xFFFFFFFFFFFFFFFF
            h = ((h ^ _LABEL_SEPARATOR) * _FNV64_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def parse_time(raw: str) -> datetime | None:
    """RFC 3339 with any number of fractional digits (kept to microseconds) and an offset; Go's zero time -> None.

    Raises ValueError on anything else (a naive time included: an alert's time without an offset is ambiguous).
    """
    text = raw.strip()
    try:
        value = parse_rfc3339(text)
    except OutOfRange:
        if text.startswith("0001-01-01"):
            return None  # Go's zero time, in any offset
        raise
    return None if value.year <= 1 else value


def parse_alertmanager(payload: bytes | str | dict[str, Any]) -> Notification:
    return _parse(payload, AlertSource.ALERTMANAGER)


def parse_grafana(payload: bytes | str | dict[str, Any]) -> Notification:
    return _parse(payload, AlertSource.GRAFANA)


def _parse(payload: bytes | str | dict[str, Any], source: str) -> Notification:
    data = _decode(payload)
    errors: dict[str, str] = {}
    reader = _Reader(errors)

    group_status = reader.text(data, "status", "status", required=True)
    if group_status and group_status not in _STATUSES:
        errors["status"] = f"must be 'firing' or 'resolved', not {group_status!r}"
    raw_alerts = data.get("alerts")
    if not isinstance(raw_alerts, list):
        errors["alerts"] = "is required and must be a list of alerts"
        raw_alerts = []
    elif not raw_alerts:
        errors["alerts"] = "is empty: a notification carries at least one alert"
    elif len(raw_alerts) > MAX_ALERTS:
        errors["alerts"] = f"has {len(raw_alerts)} alerts; at most {MAX_ALERTS} are taken in one notification"
        raw_alerts = []

    truncated = data.get("truncatedAlerts", 0)
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        errors["truncatedAlerts"] = "must be a non-negative integer"
        truncated = 0

    notification_extra: dict[str, Any] = {}
    if source == AlertSource.GRAFANA:
        if "orgId" in data:
            org_id = data["orgId"]
            if isinstance(org_id, bool) or not isinstance(org_id, int):
                errors["orgId"] = "must be an integer"
            else:
                notification_extra["org_id"] = org_id
        for key in ("title", "state", "message"):
            if value := reader.text(data, key, key):
                notification_extra[key] = value

    alerts = _untangle_fingerprints(
        [
            alert
            for index, raw in enumerate(raw_alerts)
            if (alert := _parse_alert(raw, f"alerts[{index}]", group_status, source, reader)) is not None
        ]
    )
    notification = Notification(
        source=source,
        version=reader.text(data, "version", "version"),
        receiver=reader.text(data, "receiver", "receiver"),
        status=group_status,
        group_key=reader.text(data, "groupKey", "groupKey"),
        group_labels=reader.strings(data, "groupLabels", "groupLabels"),
        common_labels=reader.strings(data, "commonLabels", "commonLabels"),
        common_annotations=reader.strings(data, "commonAnnotations", "commonAnnotations"),
        external_url=reader.text(data, "externalURL", "externalURL"),
        truncated_alerts=truncated,
        alerts=alerts,
        extra=notification_extra,
    )
    if errors:
        raise PayloadError(errors)
    return notification


def _parse_alert(raw: Any, path: str, group_status: str, source: str, reader: _Reader) -> ParsedAlert | None:
    if not isinstance(raw, dict):
        reader.errors[path] = "must be an object"
        return None
    before = len(reader.errors)
    labels = reader.strings(raw, "labels", f"{path}.labels", required=True)
    annotations = reader.strings(raw, "annotations", f"{path}.annotations")
    status = reader.text(raw, "status", f"{path}.status") or group_status
    if status and status not in _STATUSES:
        reader.errors[f"{path}.status"] = f"must be 'firing' or 'resolved', not {status!r}"
    starts_at = reader.time(raw, "startsAt", f"{path}.startsAt", required=True)
    ends_at = reader.time(raw, "endsAt", f"{path}.endsAt")
    if starts_at is not None and ends_at is not None and ends_at < starts_at:
        reader.errors[f"{path}.endsAt"] = "is before startsAt"
    fingerprint = reader.text(raw, "fingerprint", f"{path}.fingerprint")
    if len(fingerprint) > 64:
        reader.errors[f"{path}.fingerprint"] = "is longer than 64 characters"
    generator_url = reader.text(raw, "generatorURL", f"{path}.generatorURL")
    if len(generator_url) > 2000:
        reader.errors[f"{path}.generatorURL"] = "is longer than 2000 characters"
    extra: dict[str, Any] = {}
    if source == AlertSource.GRAFANA:
        for key, name in (
            ("silenceURL", "silence_url"),
            ("dashboardURL", "dashboard_url"),
            ("panelURL", "panel_url"),
            ("valueString", "value_string"),
        ):
            value = reader.text(raw, key, f"{path}.{key}")
            if value:
                extra[name] = value
        values = raw.get("values")  # Grafana sends null when the rule has no values
        if values is not None:
            if isinstance(values, dict):
                extra["values"] = values
            else:
                reader.errors[f"{path}.values"] = "must be an object"
    if len(reader.errors) > before or starts_at is None or not status:
        return None
    if not labels:
        reader.errors[f"{path}.labels"] = "is empty: an alert is identified by its labels"
        return None
    return ParsedAlert(
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at if status == AlertStatus.RESOLVED else None,
        fingerprint=fingerprint or label_fingerprint(labels),
        fingerprint_computed=not fingerprint,
        generator_url=generator_url,
        extra=extra,
    )


def _untangle_fingerprints(alerts: list[ParsedAlert]) -> list[ParsedAlert]:
    """One sent fingerprint given to different label sets in one notification (hand-edited or buggy senders)
    cannot identify them: those alerts get their label fingerprint, so none is merged into another."""
    label_sets: dict[tuple[str, datetime], set[str]] = {}
    for alert in alerts:
        label_sets.setdefault((alert.fingerprint, alert.starts_at), set()).add(json.dumps(alert.labels, sort_keys=True))
    return [
        replace(alert, fingerprint=label_fingerprint(alert.labels), fingerprint_computed=True)
        if len(label_sets[(alert.fingerprint, alert.starts_at)]) > 1
        else alert
        for alert in alerts
    ]


def _decode(payload: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(payload, bytes | str):
        try:
            payload = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PayloadError({"body": f"is not JSON: {exc}"}) from None
    if not isinstance(payload, dict):
        raise PayloadError({"body": "must be a JSON object (a webhook notification)"})
    return payload


@dataclass
class _Reader:
    """Reads typed fields, recording what is wrong instead of stopping at the first problem."""

    errors: dict[str, str]

    def text(self, data: dict[str, Any], key: str, path: str, *, required: bool = False) -> str:
        if key not in data:
            if required:
                self.errors[path] = "is required"
            return ""
        value = data[key]
        if not isinstance(value, str):
            self.errors[path] = "must be a string" + (", not null" if value is None else "")
            return ""
        return value if self._storable(value, path) else ""

    def strings(self, data: dict[str, Any], key: str, path: str, *, required: bool = False) -> dict[str, str]:
        if key not in data:
            if required:
                self.errors[path] = "is required"
            return {}
        value = data[key]
        if not isinstance(value, dict):
            self.errors[path] = "must be an object of strings"
            return {}
        for name, item in value.items():
            if not isinstance(item, str):
                self.errors[f"{path}.{name}"] = "must be a string"
                return {}
            if not (self._storable(name, f"{path} (a name)") and self._storable(item, f"{path}.{name}")):
                return {}
        return dict(value)

    def time(self, data: dict[str, Any], key: str, path: str, *, required: bool = False) -> datetime | None:
        if key not in data:
            if required:
                self.errors[path] = "is required"
            return None
        value = data[key]
        if not isinstance(value, str):
            self.errors[path] = "must be an RFC 3339 time string"
            return None
        try:
            parsed = parse_time(value)
        except ValueError as exc:
            self.errors[path] = str(exc)
            return None
        if parsed is None and required:
            self.errors[path] = "is the zero time"
        return parsed

    def _storable(self, value: str, path: str) -> bool:
        """Text PostgreSQL can keep: no NUL character, no lone surrogate."""
        if "\x00" in value:
            self.errors[path] = "contains a NUL character"
            return False
        try:
            value.encode()
        except UnicodeEncodeError:
            self.errors[path] = "is not valid Unicode text"
            return False
        return True
