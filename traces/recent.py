"""The waterfalls of the few biggest traces opened last, kept in this process, so that opening a "+N" subtree (or the
page again) does not rebuild a 100,000-span waterfall (traces/views.py).

Bounded: at most `SIZE` waterfalls, of traces of at least `MIN_SPANS` spans (a smaller one builds in a few
milliseconds), each kept at most `TTL_SECONDS`. A 100,000-span waterfall holds ~36 MB of its own (tracemalloc) plus
the span ids and names it shares with the fetched rows, ~60 MB in all: a process keeps ~120 MB at most. Correct as
spans arrive: the key holds the trace summary's span count and its `updated_at`, which every span write changes
(traces/summaries.py), so a trace that grew is built afresh; the time limit bounds what no summary marks (spans
expired by retention). What rows show of other records (a shard's business labels) is not cached: the page reads it
for the rows it shows. Only a trace whose rows match its summary's count is kept (not one still arriving or expired),
and a trace fetched again from a tracing backend is forgotten (`forget`). A waterfall is never changed after it is
built (traces/waterfall.py), so one object can serve several requests.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    from traces.waterfall import Waterfall

SIZE = 2
MIN_SPANS = 10_000
TTL_SECONDS = 60.0

Key = tuple[int, str, int, "datetime"]
_lock = threading.Lock()
_kept: OrderedDict[Key, tuple[float, Waterfall]] = OrderedDict()


def key_of(namespace_id: int, trace_id: str, span_count: int | None, updated_at: datetime | None) -> Key | None:
    """The cache key of a trace with a summary big enough to keep; None: not kept."""
    if span_count is None or updated_at is None or span_count < MIN_SPANS:
        return None
    return (namespace_id, trace_id, span_count, updated_at)


def get(key: Key | None) -> Waterfall | None:
    if key is None:
        return None
    now = time.monotonic()
    with _lock:
        hit = _kept.get(key)
        if hit is None:
            return None
        if hit[0] < now:
            del _kept[key]
            return None
        _kept.move_to_end(key)
        return hit[1]


def put(key: Key | None, wf: Waterfall) -> None:
    if key is None:
        return
    with _lock:
        # Older versions of the same trace go first: they can never be asked for again.
        for old in [k for k in _kept if k[:2] == key[:2] and k != key]:
            del _kept[old]
        _kept[key] = (time.monotonic() + TTL_SECONDS, wf)
        _kept.move_to_end(key)
        while len(_kept) > SIZE:
            _kept.popitem(last=False)


def forget(namespace_id: int, trace_id: str) -> None:
    """Drop what is kept of one trace (its spans were just fetched from a tracing backend, which no summary marks)."""
    with _lock:
        for old in [k for k in _kept if k[:2] == (namespace_id, trace_id)]:
            del _kept[old]


def clear() -> None:
    with _lock:
        _kept.clear()
