"""Operation names with their ids grouped: `PUT /accounts/2010042` and `PUT /accounts/2010043` are one operation,
`PUT /accounts/{id}` (pure). Used where spans are counted or matched by operation: the trace comparison and the
trace page's statistics."""

from __future__ import annotations

import re
from functools import lru_cache

ID = "{id}"
# A UUID; a number of three digits or more; a hex string of eight characters or more that holds a digit. Each stands
# alone (not part of a word): `v2`, `http2`, `op-7` and `sha256` stay as they are.
_UUID = re.compile(
    r"(?<![0-9A-Za-z])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![0-9A-Za-z])"
)
_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{3,}(?![0-9A-Za-z])")
_HEX = re.compile(r"(?<![0-9A-Za-z])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}(?![0-9A-Za-z])")


@lru_cache(maxsize=4096)
def operation_name(name: str) -> str:
    """The span name with every id in it replaced by `{id}`."""
    return _HEX.sub(ID, _NUMBER.sub(ID, _UUID.sub(ID, name)))
