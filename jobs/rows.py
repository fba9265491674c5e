"""The execution page's shard rows, joined in Python with every value escaped (the trace search's are in
traces/rows.py).

A Django template loop costs ~0.5 ms per row of this size; these lists show 100-200 rows per page.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils.safestring import SafeString, mark_safe

from console.pages import escape, truncate
from jobs.choices import FAILURE_STATUSES, RunStatus
from jobs.stats import format_ms


def status_badge(status: str) -> str:
    try:
        choice = RunStatus(status)
    except ValueError:
        return f'<span class="st">{escape(status)}</span>'
    return f'<span class="st st-{choice.colour}">{escape(choice.label)}</span>'


def shard_rows(rows: Iterable[dict[str, Any]]) -> SafeString:
    """rows: {"s": Shard, "url": shard page, "trace_url": ""|url}, as the execution page builds them."""
    out = []
    for r in rows:
        s = r["s"]
        labels = " ".join(f'<span class="label">{escape(k)}={escape(v)}</span>' for k, v in (s.labels or {}).items())
        parent = f' <span class="muted">↳ {escape(s.parent_shard_id)}</span>' if s.parent_shard_id else ""
        chain = f'<a href="{escape(r["url"])}">call chain</a>' if r["trace_url"] else ""
        out.append(
            f'<tr class="{"failing" if s.status in FAILURE_STATUSES else ""}">'
            f'<td class="num">{"" if s.index is None else s.index}</td>'
            f'<td><a href="{escape(r["url"])}" class="mono">{escape(s.shard_id)}</a>{parent}</td>'
            f"<td>{labels}</td><td>{status_badge(s.status)}</td><td>{escape(s.worker)}</td>"
            f'<td class="num">{s.attempt}</td><td class="num">{format_ms(s.duration_ms)}</td>'
            f'<td class="error-cell">{escape(truncate(s.error, 140))}</td><td>{chain}</td></tr>'
        )
    return mark_safe("".join(out))  # noqa: S308 -- every interpolated value is escaped or numeric
