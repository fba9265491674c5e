"""The trace search's result rows, joined in Python with every value escaped (the waterfall's rows are rendered by
traces/waterfall.py).

A Django template loop costs ~0.5 ms per row of this size; a search shows up to 200 rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils.safestring import SafeString, mark_safe

from console.pages import escape, truncate
from traces.waterfall import format_ns


def trace_result_rows(results: Iterable[dict[str, Any]]) -> SafeString:
    """rows: {"t": Trace, "url", "owner": {job, job_name, execution, execution_id, shard, shard_id}, "started"}."""
    out = []
    for r in results:
        t, o = r["t"], r["owner"]
        url = escape(r["url"])
        owner = ""
        if o.get("job"):
            owner = f'<a href="{escape(o["job"])}">{escape(o["job_name"])}</a>'
            if o.get("execution"):
                owner += f' / <a href="{escape(o["execution"])}">{escape(o["execution_id"])}</a>'
            if o.get("shard"):
                owner += f' / <a href="{escape(o["shard"])}">{escape(o["shard_id"])}</a>'
        services = ", ".join(str(s) for s in (t.services or []))
        out.append(
            f'<tr class="{"failing" if t.error_count else ""}">'
            f'<td><a class="trace-link" href="{url}">{r["started"]:%Y-%m-%d %H:%M:%S}</a>'
            f' <span class="mono muted">{escape(t.trace_id[:8])}…</span></td>'
            f'<td><a href="{url}">{escape(t.root_service)}: {escape(truncate(t.root_name, 80))}</a></td>'
            f"<td>{escape(truncate(services, 80))}</td>"
            f'<td class="num">{t.span_count}</td>'
            f'<td class="num{" bad" if t.error_count else ""}">{t.error_count}</td>'
            f'<td class="num">{format_ns(t.duration_ns)}</td><td>{owner}</td></tr>'
        )
    return mark_safe("".join(out))  # noqa: S308 -- every interpolated value is escaped or numeric
