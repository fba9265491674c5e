"""Helpers every console page shares: HTML escaping for the rows that long lists join in Python."""

from __future__ import annotations

from html import escape as _html_escape


def escape(value: object) -> str:
    """HTML-escape (quotes too) with the standard library: a plain str, several times faster than Django's
    escape() when joining thousands of rows."""
    return _html_escape(str(value))


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
