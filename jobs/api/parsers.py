"""The JSON parser every DRF endpoint uses: DRF's, plus a 400 for bodies Python's json cannot read safely and the
body size limit that Django's `request.body` enforces (DRF's own parser reads the stream past it)."""

from __future__ import annotations

import io
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    """DRF's parser turns ValueError into a 400 but lets RecursionError (JSON nested ~1,000 deep) become a 500, and
    reads any length: the body is taken through Django's `request.body`, which raises RequestDataTooBig past
    DATA_UPLOAD_MAX_MEMORY_SIZE (a 413, jobs/api/errors.py), refusing a declared length before reading it."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        request = (parser_context or {}).get("request")
        if request is not None:
            stream = io.BytesIO(request._request.body)
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
