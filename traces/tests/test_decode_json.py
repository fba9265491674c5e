"""decode_json reads a body exactly as `json.loads` does, whether or not the optional orjson fast path is installed."""

from __future__ import annotations

import json

import pytest

import traces.ingest as ingest
from traces.ingest import ParseError, decode_json

EDGE_CASES = [
    b'{"resourceSpans": []}',
    b'{"a": 1, "a": 2}',  # the last duplicate wins
    b'{"big": 18446744073709551616}',  # beyond 64 bits: ints, never floats
    b'{"neg": -9223372036854775809}',
    b'{"u64": 18446744073709551615, "i64": -9223372036854775808}',
    b'{"f": 1.0000000000000002, "e": 1E5, "z": -0, "nz": -0.0}',
    b'{"nan": NaN, "inf": Infinity}',  # json's extension, kept
    b'{"s": "\\ud83d\\udcb3"}',  # a proper surrogate pair (one character)
    b'\xef\xbb\xbf{"bom": true}',  # UTF-8 with a byte order mark
    '{"utf16": 1}'.encode("utf-16"),
    b"[" * 50 + b"]" * 50,
]


@pytest.mark.parametrize("body", EDGE_CASES)
def test_bodies_decode_as_json_loads_decodes_them(body, monkeypatch):
    expected = json.dumps(json.loads(body), sort_keys=True)  # "-9.2e+18" for a float, the digits for an int
    assert json.dumps(decode_json(body), sort_keys=True) == expected
    monkeypatch.setattr(ingest, "orjson", None)
    assert json.dumps(decode_json(body), sort_keys=True) == expected


@pytest.mark.parametrize("body", [b"", b"{", b'{"a": }', b"\xff\xfe\xfd", b"[" * 100_000])
def test_undecodable_bodies_are_refused_with_a_reason(body, monkeypatch):
    for fast in (ingest.orjson, None):
        monkeypatch.setattr(ingest, "orjson", fast)
        with pytest.raises(ParseError, match="not valid JSON"):
            decode_json(body)


def test_every_json_fixture_decodes_the_same_either_way(fixtures_dir, monkeypatch):
    bodies = [p.read_bytes() for p in sorted(fixtures_dir.rglob("*.json"))]
    assert bodies
    fast = [decode_json(b) for b in bodies]
    monkeypatch.setattr(ingest, "orjson", None)
    assert [decode_json(b) for b in bodies] == fast


def test_a_lone_surrogate_becomes_a_replacement_character_unlike_json_loads():
    """The one place decode_json differs from json.loads on purpose: no UTF-8 store can hold a lone surrogate."""
    assert decode_json(b'{"s": "a\\ud800b", "\\udc00k": ["\\uDFFF"]}') == {"s": "a\ufffdb", "\ufffdk": ["\ufffd"]}
