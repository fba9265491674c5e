"""Filters shared by the console's templates: durations, rates, safe links, attribute values."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from jobs.choices import FAILURE_STATUSES, RunStatus
from jobs.stats import format_ms
from traces.waterfall import format_ns

register = template.Library()


def is_http_url(value: object) -> bool:
    """Only http(s) URLs with a host become links; `javascript:`, `data:` and the rest stay text."""
    if not isinstance(value, str) or len(value) > 2000:
        return False
    text = value.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.netloc) and text == value


@register.filter
def ms(value: float | None) -> str:
    return format_ms(value)


@register.filter
def ns(value: int | None) -> str:
    return "—" if value is None else format_ns(int(value))


@register.filter
def signed_ns(value: int | None) -> str:
    """A change of duration: `+12.00 s`, `-3.0 ms`, `±0`."""
    if value is None:
        return "—"
    value = int(value)
    if value == 0:
        return "±0"
    return ("+" if value > 0 else "-") + format_ns(abs(value))


@register.filter
def signed_ms(value: float | None) -> str:
    if value is None:
        return "—"
    return signed_ns(int(value * 1_000_000))


@register.filter
def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


@register.filter
def status_class(status: str | None) -> str:
    """CSS class of a run status (its colour from choices.STATUS_COLOUR)."""
    try:
        return f"st st-{RunStatus(status).colour}"
    except ValueError:
        return "st"


@register.filter
def is_failure(status: str | None) -> bool:
    return status in FAILURE_STATUSES


@register.filter
def safe_link(value: Any) -> SafeString:
    """A value as text, or as a link when it is an http(s) URL (escaped either way, opened without referrer)."""
    if is_http_url(value):
        return format_html('<a href="{}" rel="noopener noreferrer nofollow" target="_blank">{}</a>', value, value)
    if isinstance(value, dict | list):
        return format_html("<code>{}</code>", json.dumps(value, ensure_ascii=False, sort_keys=True))
    if isinstance(value, bool):
        return format_html("<code>{}</code>", "true" if value else "false")
    return format_html("{}", "" if value is None else value)


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


@register.filter
def get_item(mapping: Any, key: str) -> Any:
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.simple_tag(takes_context=True)
def query_with(context: Any, **changes: Any) -> str:
    """The current query string with some parameters replaced (for pagination links): `?a=1&page=3`."""
    request = context["request"]
    params = request.GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"
