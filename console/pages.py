"""Helpers every console page shares: telling an htmx swap from a page load, query parameters without the blanks
an empty form field sends, and HTML escaping for the rows long lists join in Python."""

from __future__ import annotations

from html import escape as _html_escape

from django.http import HttpRequest, QueryDict


def is_fragment(request: HttpRequest) -> bool:
    """An htmx swap of a list (not a boosted history restore, which needs the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def filled(params: QueryDict) -> QueryDict:
    """The parameters with their blank values dropped: an empty form field filters nothing."""
    data = QueryDict(mutable=True)
    for key, values in params.lists():
        kept = [v for v in values if v.strip()]
        if kept:
            data.setlist(key, kept)
    return data


def escape(value: object) -> str:
    """HTML-escape (quotes too) with the standard library: a plain str, several times faster than Django's
    escape() when joining thousands of rows."""
    return _html_escape(str(value))


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
