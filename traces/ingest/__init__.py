"""Pure span parsers: bytes or JSON in, `ParseResult` (plain `ParsedSpan` dataclasses) out. No database, no HTTP.

- `parse_otlp(body, content_type)` — what the OTLP/HTTP receiver reads (protobuf or OTLP/JSON).
- `parse_document(doc)` — any decoded JSON document: OTLP/JSON, Jaeger api/v3 `{"result": ...}`, Jaeger v1 in all
  its shapes, Zipkin v2, Tempo's variant.
- `parse_file(data)` — what `import_traces` reads: gzip or not, JSON or OTLP protobuf, format sniffed.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Mapping
from typing import Any

from traces.ingest.jaeger import looks_like_jaeger, parse_jaeger_document
from traces.ingest.otlp import parse_json_document, parse_protobuf
from traces.ingest.spans import ParsedSpan, ParseError, ParseResult, dedupe
from traces.ingest.zipkin import looks_like_zipkin, parse_zipkin_document

__all__ = [
    "ParseError",
    "ParseResult",
    "ParsedSpan",
    "decode_json",
    "dedupe",
    "parse_document",
    "parse_file",
    "parse_otlp",
]


try:  # optional: ~2x faster than json on OTLP/JSON bodies; everything below works without it
    import orjson
except ImportError:  # pragma: no cover - exercised by monkeypatching in the tests
    orjson = None

# orjson reads an integer beyond 64 bits (above 2^64-1 or below -2^63) as a float, json as an int: bodies with digit
# runs that long take json's reading.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_POSITIVE, _LONG_NEGATIVE = b"0" * 20, b"-" + b"0" * 19


def _long_digit_runs(body: bytes) -> bool:
    """Whether the body has 20 digits in a row (or a minus and 19): C-speed byte scans, no regex backtracking."""
    folded = body.translate(_DIGITS_AS_ZERO)
    return _LONG_POSITIVE in folded or _LONG_NEGATIVE in folded


def decode_json(body: bytes) -> Any:
    """JSON as `json.loads` reads it. orjson, when installed, decodes what it reads exactly as json does; anything
    it refuses (NaN, lone surrogates, UTF-16, very deep nesting, ...) or might read differently goes to json.

    A lone UTF-16 surrogate escape (`"\\ud800"`) decodes to a string no UTF-8 store can hold: such strings keep
    their text with U+FFFD in place of the broken half, as NUL characters do."""
    if orjson is not None and not _long_digit_runs(body):
        try:
            return orjson.loads(body)
        except (orjson.JSONDecodeError, TypeError):
            pass
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ParseError(f"the body is not valid JSON ({str(exc)[:200]})") from None
    if _SURROGATE_ESCAPE.search(body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")):
        doc = _without_lone_surrogates(doc)
    return doc


_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        # A proper pair is one character already; what is left of 0xD800-0xDFFF is a lone half.
        return (
            "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in value) if _has_surrogate(value) else value
        )
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_lone_surrogates(v) for v in value]
    return value


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def parse_otlp(body: bytes, json_body: bool, aliases: Mapping[str, str] | None = None) -> ParseResult:
    if json_body:
        return parse_document(decode_json(body), aliases, otlp_only=True)
    return parse_protobuf(body, aliases)


def parse_document(doc: Any, aliases: Mapping[str, str] | None = None, *, otlp_only: bool = False) -> ParseResult:
    try:
        return _parse_document(doc, aliases, otlp_only=otlp_only)
    except ParseError:
        raise
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError, OverflowError) as exc:
        # A shape no rule above expected (fuzzing finds these): the whole document is refused, with the reason.
        raise ParseError(f"unreadable trace document ({type(exc).__name__}: {str(exc)[:200]})") from None


def _parse_document(doc: Any, aliases: Mapping[str, str] | None, *, otlp_only: bool) -> ParseResult:
    if isinstance(doc, Mapping) and "result" in doc and not otlp_only:
        inner = doc.get("result")
        if inner is None:
            return ParseResult(format="jaeger-v3")
        if not isinstance(inner, Mapping):
            raise ParseError("result must be an object with resourceSpans")
        result = parse_json_document(inner, aliases, fmt="jaeger-v3")
        return result
    if isinstance(doc, Mapping) and ("resourceSpans" in doc or "resource_spans" in doc or "batches" in doc):
        return parse_json_document(doc, aliases)
    if otlp_only:
        if isinstance(doc, Mapping) and not (set(doc) & {"data", "spans", "result"}):
            return parse_json_document(doc, aliases)  # {} or unknown fields only: an empty request
        raise ParseError("an OTLP/JSON body must be an object with resourceSpans")
    if looks_like_zipkin(doc):
        return parse_zipkin_document(doc, aliases)
    if looks_like_jaeger(doc):
        return parse_jaeger_document(doc, aliases)
    if isinstance(doc, list) and not doc:
        return ParseResult(format="empty")
    raise ParseError("unrecognised trace JSON: expected OTLP/JSON, Jaeger (v1 or api/v3) or Zipkin v2")


def parse_file(
    data: bytes, aliases: Mapping[str, str] | None = None, max_bytes: int = 512 * 1024 * 1024
) -> ParseResult:
    """A file as `import_traces` reads it: gzip or plain; JSON (any format above) or OTLP protobuf."""
    if data[:2] == b"\x1f\x8b":
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = d.decompress(data, max_bytes)
            if d.unconsumed_tail:
                raise ParseError(f"the file inflates beyond {max_bytes} bytes")
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise ParseError(f"bad gzip data ({exc})") from None
    stripped = data.lstrip()
    if stripped[:1] in (b"{", b"["):
        return parse_document(decode_json(data), aliases)
    return parse_protobuf(data, aliases)
