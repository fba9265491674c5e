"""The waterfalls kept for a moment (traces/recent.py): bounded, and never served for a trace that has changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from traces import recent, waterfall


@pytest.fixture(autouse=True)
def empty():
    recent.clear()
    yield
    recent.clear()


def _wf():
    return waterfall.build([("r", "", "root", "svc", 1, 0, 10, 0)])


AT = datetime(2026, 12, 2, tzinfo=UTC)


def test_small_traces_and_traces_without_a_summary_are_not_kept():
    assert recent.key_of(1, "t", recent.MIN_SPANS - 1, AT) is None
    assert recent.key_of(1, "t", None, AT) is None
    assert recent.key_of(1, "t", recent.MIN_SPANS, None) is None
    recent.put(None, _wf())
    assert recent.get(None) is None


def test_a_trace_that_grew_or_changed_is_not_served_from_what_was_kept():
    key = recent.key_of(1, "t", recent.MIN_SPANS, AT)
    wf = _wf()
    recent.put(key, wf)
    assert recent.get(key) is wf
    assert recent.get(recent.key_of(1, "t", recent.MIN_SPANS + 1, AT)) is None  # one more span arrived
    newer = recent.key_of(1, "t", recent.MIN_SPANS, AT + timedelta(seconds=1))
    assert recent.get(newer) is None  # the summary was rewritten
    recent.put(newer, _wf())
    assert recent.get(key) is None  # the older version is dropped
    assert recent.get(recent.key_of(2, "t", recent.MIN_SPANS, AT)) is None  # another namespace's trace


def test_at_most_a_few_are_kept_the_least_recently_used_go_first(monkeypatch):
    keys = [recent.key_of(1, f"t{i}", recent.MIN_SPANS, AT) for i in range(recent.SIZE + 1)]
    for k in keys[:-1]:
        recent.put(k, _wf())
    assert recent.get(keys[0]) is not None  # used: now the most recent
    recent.put(keys[-1], _wf())
    assert recent.get(keys[1]) is None
    assert recent.get(keys[0]) is not None
    assert recent.get(keys[-1]) is not None


def test_what_was_kept_expires(monkeypatch):
    key = recent.key_of(1, "t", recent.MIN_SPANS, AT)
    recent.put(key, _wf())
    monkeypatch.setattr(recent, "TTL_SECONDS", -1.0)
    recent.put(key, _wf())
    assert recent.get(key) is None


def test_a_trace_fetched_again_from_a_backend_is_forgotten():
    key = recent.key_of(1, "t", recent.MIN_SPANS, AT)
    other = recent.key_of(1, "u", recent.MIN_SPANS, AT)
    recent.put(key, _wf())
    recent.put(other, _wf())
    recent.forget(1, "t")
    assert recent.get(key) is None
    assert recent.get(other) is not None
