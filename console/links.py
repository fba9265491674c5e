"""Console URLs, built exactly as DESIGN.md's URL contract says so alert templates can build them too.

Every page, API response and lookup result builds its links here; nothing else formats a console path. An id holding
`/` or `%` is escaped once more before it is URL-encoded (console/converters.py), so it stays one path segment.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from console.converters import escape_id


def _seg(value: object) -> str:
    """A path segment for an id (console/converters.py): `etl/daily` is `etl%252Fdaily`, reachable, not split."""
    return quote(escape_id(str(value)), safe="")


def overview_url(**filters: str) -> str:
    """The jobs overview, filtered (`namespace`, `status`, `q`); blank filters are left out."""
    query = urlencode({key: value for key, value in filters.items() if value})
    return f"/?{query}" if query else "/"


def job_url(namespace: str, job: str) -> str:
    return f"/jobs/{_seg(namespace)}/{_seg(job)}/"


def retention_url(namespace: str) -> str:
    """Where the job page's retention form posts (jobs/retention/)."""
    return f"/jobs/{_seg(namespace)}/retention"


def execution_url(namespace: str, job: str, execution_id: str) -> str:
    return f"{job_url(namespace, job)}runs/{_seg(execution_id)}/"


def shard_url(namespace: str, job: str, execution_id: str, shard_id: str) -> str:
    return f"{execution_url(namespace, job, execution_id)}shards/{_seg(shard_id)}/"


def run_compare_url(namespace: str, job: str, a: str, b: str) -> str:
    """Two runs of a job compared (`a` the baseline, `b` the run compared with it)."""
    return f"{execution_url(namespace, job, a)}compare/{_seg(b)}/"


def job_shard_url(namespace: str, job: str, shard_id: str) -> str:
    """One shard id across the job's runs."""
    return f"{job_url(namespace, job)}shards/{_seg(shard_id)}/"


def trace_compare_url(a: str, b: str) -> str:
    return f"/traces/{_seg(a)}/compare/{_seg(b)}/"


def trace_url(trace_id: str, span_id: str | None = None) -> str:
    url = f"/traces/{_seg(trace_id)}/"
    return f"{url}?span={quote(span_id, safe='')}" if span_id else url


def trace_search_url(**filters: str) -> str:
    """The trace search (/traces/) with these filters; blank ones are left out."""
    query = urlencode({key: value for key, value in filters.items() if value})
    return f"/traces/?{query}" if query else "/traces/"


def correlation_url(correlation_id: str) -> str:
    # The correlation routes take the rest of the path (`<path:...>`): a slash in the id travels as itself.
    return f"/correlations/{quote(str(correlation_id), safe='')}/"


def lookup_url(query: str) -> str:
    """The lookup box's answer for any id (/search?q=): its page when one record has it, else the matches."""
    return f"/search?q={quote(str(query), safe='')}"


def message_url(message_id: str, correlation_id: str = "") -> str:
    """Where a message id leads: its workflow when the correlation id is known, else the lookup of the id."""
    return correlation_url(correlation_id) if correlation_id else lookup_url(message_id)


def alert_url(alert_pk: int) -> str:
    return f"/alerts/{alert_pk}/"


def execution_url_of(execution: object) -> str:
    """For an Execution with job and job.namespace loaded (select_related)."""
    job = execution.job  # type: ignore[attr-defined]
    return execution_url(job.namespace.name, job.name, execution.execution_id)  # type: ignore[attr-defined]


def shard_url_of(shard: object) -> str:
    """For a Shard with execution, execution.job and execution.job.namespace loaded."""
    execution = shard.execution  # type: ignore[attr-defined]
    job = execution.job
    return shard_url(job.namespace.name, job.name, execution.execution_id, shard.shard_id)  # type: ignore[attr-defined]


def log_search_url(**filters: str) -> str:
    """The log search (/logs/) with these filters; blank ones are left out."""
    query = urlencode({key: value for key, value in filters.items() if value})
    return f"/logs/?{query}" if query else "/logs/"
