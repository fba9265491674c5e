"""Text search answers exactly what a plain filter-and-sort answers, whichever plan it takes on PostgreSQL (the
sample of the scope's newest records, a longer walk of them, or the trigram index; traces/logs/queries.py), page
after page in both orders, and only within the reader's namespaces."""

from __future__ import annotations

import pytest
from django.db import connection

from tests import factories
from traces.logs import queries
from traces.logs.ingest import parse_logs
from traces.logs.models import LogRecord
from traces.logs.store import store_logs
from traces.logs.tests.builders import line, request

pytestmark = pytest.mark.django_db
T0 = 1_764_000_000_000_000_000
# From every record to none: frequent terms end in the sample, middling ones in the walk, rare ones in the index;
# 'account_42 ' takes the index for its word '42' only.
TERMS = ["rows", "Connection RESET", "account_42 ", "account_4", "checksum mismatch", "50%_off", "not there"]


def _body(i: int) -> str:
    tail = "connection reset by peer" if i % 7 == 0 else f"in {i % 13} ms"
    if i % 97 == 3:
        tail = "checksum mismatch on page 2"
    if i == 250:
        tail = "50%_off sale"
    return f"copied {i} rows to account_{i % 60} {tail}"


@pytest.fixture
def logs(ns, other_ns):
    job = factories.job(ns, "nightly")
    run = factories.execution(job, "run-1", status="running")
    for namespace, count in ((ns, 600), (other_ns, 300)):
        lines = [line(_body(i), T0 + (i // 3) * 1000, attributes={"job.execution.id": "run-1"}) for i in range(count)]
        store_logs(namespace, parse_logs(request(lines, resource={"job.name": "nightly"}), json_body=False).records)
    assert LogRecord.objects.filter(namespace=ns, execution=run).count() == 600
    return job


def _pages(scope, f, order, limit, q):
    out, cursor = [], ""
    while True:
        result = queries.page(queries.records(scope, f, text=False), order, cursor, limit, q=q)
        out.append([r.pk for r in result.rows])
        if not result.next_cursor:
            return out
        cursor = result.next_cursor


def _expected(scope, f, order, limit):
    ordering = ("-time_ns", "-id") if order == "newest" else ("time_ns", "id")
    pks = list(queries.records(scope, f).order_by(*ordering).values_list("pk", flat=True))
    return [pks[i : i + limit] for i in range(0, len(pks), limit)] or [[]]


@pytest.mark.parametrize("term", TERMS)
def test_every_plan_answers_what_the_plain_filter_does(ns, logs, term, monkeypatch):
    monkeypatch.setattr(queries, "SAMPLE_ROWS", 40)
    monkeypatch.setattr(queries, "WALK_ROWS", 150)
    scope = queries.Scope(frozenset({ns.pk}), job=logs)
    f = queries.LogFilter(job=f"{ns.name}/nightly", q=term)
    for order in ("newest", "oldest"):
        for limit in (1, 7, 100):
            assert _pages(scope, f, order, limit, term) == _expected(scope, f, order, limit), (order, limit)


def test_each_plan_is_taken(ns, logs, monkeypatch, django_assert_max_num_queries):
    if connection.vendor != "postgresql":
        pytest.skip("the plans are PostgreSQL's; SQLite filters the scope's records")
    monkeypatch.setattr(queries, "SAMPLE_ROWS", 40)
    monkeypatch.setattr(queries, "WALK_ROWS", 150)
    taken: list[str] = []
    for name in ("_walk", "_trigram_search"):
        real = getattr(queries, name)
        monkeypatch.setattr(
            queries, name, lambda *a, _real=real, _name=name, **k: taken.append(_name) or _real(*a, **k)
        )
    scope = queries.Scope(frozenset({ns.pk}), job=logs)
    for term, plans in (
        ("rows", ["_walk"]),  # every record: the sample holds a page
        ("account_4", ["_walk", "_walk"]),  # 11 in 60: the walk
        ("checksum mismatch", ["_walk", "_trigram_search"]),  # 1 in 97: the index
    ):
        taken.clear()
        queries.page(queries.records(scope, queries.LogFilter(q=term), text=False), "newest", "", 20, q=term)
        assert taken == plans, term
    with connection.cursor() as cursor:  # the index plan's setting does not outlive it in the caller's transaction
        cursor.execute("SHOW enable_indexscan")
        assert cursor.fetchone()[0] == "on"


def test_a_search_never_reads_another_namespace(ns, other_ns, logs):
    scope = queries.Scope(frozenset({ns.pk}))
    for term in TERMS:
        result = queries.page(queries.records(scope, queries.LogFilter(), text=False), "newest", "", 500, q=term)
        assert {r.namespace_id for r in result.rows} <= {ns.pk}
        assert len(result.rows) == min(500, queries.records(scope, queries.LogFilter(q=term)).count())
