"""URL path converters shared by every url module."""

from __future__ import annotations

from django.urls import register_converter


class IdConverter:
    """An id in a path segment: anything but a slash or a NUL (no stored id holds one; PostgreSQL cannot).

    A NUL therefore never reaches a query: such a URL is a 404, like an id that does not exist.
    """

    regex = "[^/\\x00]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


def register() -> None:
    register_converter(IdConverter, "id")
