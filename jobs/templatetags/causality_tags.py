"""Template tags owned by one feature, included by the pages of another (stub until that feature lands)."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def causality_panel(context: dict[str, Any], obj: Any) -> str:
    return ""


@register.simple_tag(takes_context=True)
def propagation_health(context: dict[str, Any], job: Any) -> str:
    return ""
