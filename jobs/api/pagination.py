"""Cursor pagination for every list: stable under inserts, a `results` array, `next`/`previous` links."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request


class NewestFirstCursorPagination(CursorPagination):
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000
    ordering = ("-id",)

    def get_page_size(self, request: Request) -> int:
        """`limit` from 1 to max_page_size (larger is capped); anything else is a 400, not silently the default."""
        raw = request.query_params.get(self.page_size_query_param, "")
        if raw == "":
            return self.page_size
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise ValidationError({self.page_size_query_param: [f"must be a positive integer, not {raw!r}"]})
        return min(value, self.max_page_size)
