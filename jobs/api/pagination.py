"""Cursor pagination for every list: stable under inserts, a `results` array, `next`/`previous` links."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class NewestFirstCursorPagination(CursorPagination):
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000
    ordering = ("-id",)
