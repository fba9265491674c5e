"""Cursor pagination for every list: stable under inserts, a `results` array, `next`/`previous` links.

Cursors are signed (django.core.signing, SECRET_KEY): a list only takes back a cursor it handed out. DRF's cursor is
base64 of `o=<offset>&r=<reverse>&p=<position>` and DRF filters by the position as sent, so an edited cursor made
the query fail (text where the ordering field is an integer: a ValueError; a NUL: PostgreSQL's DataError), a 500.
Anything that is not one of ours is a 400 naming `cursor`. Consoles behind one balancer share SECRET_KEY (their
sessions need it too), so a cursor from one is good on the others.
"""

from __future__ import annotations

from base64 import b64decode, b64encode
from urllib import parse

from django.core import signing
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param

_SIGNER = signing.Signer(salt="jobtrace.api.cursor")


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

    def encode_cursor(self, cursor: Cursor) -> str:
        tokens = {}
        if cursor.offset:
            tokens["o"] = str(cursor.offset)
        if cursor.reverse:
            tokens["r"] = "1"
        if cursor.position is not None:
            tokens["p"] = cursor.position
        encoded = b64encode(parse.urlencode(tokens).encode("ascii")).decode("ascii")
        return replace_query_param(self.base_url, self.cursor_query_param, _SIGNER.sign(encoded))

    def decode_cursor(self, request: Request) -> Cursor | None:
        signed = request.query_params.get(self.cursor_query_param)
        if signed is None:
            return None
        try:
            tokens = parse.parse_qs(b64decode(_SIGNER.unsign(signed)).decode("ascii"), keep_blank_values=True)
            offset = int(tokens.get("o", ["0"])[0])
            reverse = tokens.get("r", ["0"])[0] == "1"
            position = tokens.get("p", [None])[0]
        except (signing.BadSignature, TypeError, ValueError):
            raise ValidationError(
                {"cursor": ["is not a cursor this list handed out; follow the list's `next` or `previous`."]}
            ) from None
        return Cursor(offset=min(max(offset, 0), self.offset_cutoff), reverse=reverse, position=position)
