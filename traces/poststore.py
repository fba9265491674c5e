"""The steps that follow a span write (`span_steps`), and what they are handed (`StoredSpans`).

traces/store.py runs them inside its transaction once the spans, their SpanLink rows and the touched traces'
summaries are written. The registry, the order of the steps and who registers them: jobs/poststore.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from jobs.poststore import Steps
from traces.ingest.spans import ParsedSpan


@dataclass(frozen=True)
class StoredSpans:
    """What one `store_spans` call did, as the steps see it."""

    namespace_id: int
    trace_ids: Sequence[str]  # every trace the call touched, sorted
    received: Sequence[ParsedSpan]  # the call's spans, one per (trace id, span id)
    stored: Sequence[ParsedSpan]  # of those, the ones this call stored: a resent span stored before is not here
    # Filled by the linking step (traces/linking.py) for the steps after it: the (trace id, span id) of the stored
    # spans whose owner linking changed (e.g. an earlier span that moved under a shard's subtree root that just
    # arrived), so their logs can follow them (traces/logs/linking.py).
    relinked: set[tuple[str, str]] = field(default_factory=set)


span_steps: Steps[StoredSpans] = Steps("spans")
