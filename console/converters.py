"""URL path converters shared by every url module."""

from __future__ import annotations

import re

from django.urls import register_converter

# An id's path segment is the id with `%`, `/` (and a whole-segment `.` / `..`) written as %25, %2F and %2E, and
# the whole then URL-encoded as any segment is: `etl/daily` is `etl%252Fdaily` in the URL. Servers decode the URL
# once before Django routes it (PATH_INFO), so an id's slash cannot travel as %2F: it would arrive as a slash and
# split the segment. Ids without those characters (nearly all) appear as themselves, as DESIGN.md's URL contract
# says; console/links.py builds every URL this way.
_ESCAPED = re.compile(r"%(2[fF]|25|2[eE])")
_UNESCAPE = {"2f": "/", "25": "%", "2e": "."}


def escape_id(value: str) -> str:
    """An id as its path segment (before URL-encoding): `%` and `/` escaped, and the dots of `.` and `..`, which a
    browser would otherwise resolve as a relative path."""
    text = value.replace("%", "%25").replace("/", "%2F")
    return text.replace(".", "%2E") if text in (".", "..") else text


def unescape_id(segment: str) -> str:
    return _ESCAPED.sub(lambda m: _UNESCAPE[m[1].lower()], segment)


class IdConverter:
    """An id in a path segment: anything but a slash or a NUL (no stored id holds one; PostgreSQL cannot), with
    `escape_id`'s escapes undone.

    A NUL therefore never reaches a query: such a URL is a 404, like an id that does not exist.
    """

    regex = "[^/\\x00]+"

    def to_python(self, value: str) -> str:
        return unescape_id(value)

    def to_url(self, value: str) -> str:
        return escape_id(value)


def register() -> None:
    register_converter(IdConverter, "id")
