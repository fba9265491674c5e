"""A sampling rate as a caller sends it (API body or form field), read into a float in [0, 1]. No database."""

from __future__ import annotations

import math
from typing import Any


class InvalidRate(ValueError):
    pass


def parse_rate(value: Any) -> float:
    """A number in [0, 1]; strings of numbers are accepted (form posts); anything else raises InvalidRate."""
    if isinstance(value, bool) or value is None:
        raise InvalidRate("rate must be a number between 0 and 1")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InvalidRate(f"rate must be a number between 0 and 1, not {value[:40]!r}") from None
    if not isinstance(value, int | float):
        raise InvalidRate(f"rate must be a number between 0 and 1, not {type(value).__name__}")
    rate = float(value)
    if math.isnan(rate) or rate < 0 or rate > 1:
        raise InvalidRate(f"rate must be between 0 and 1 inclusive, got {value}")
    return rate
