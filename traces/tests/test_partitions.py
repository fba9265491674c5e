"""The daily span partitions (PostgreSQL): the migration on a database with spans (and back), a span for a day with
no partition, an exporter's retry still stored once, and expiry by a concurrent detach outside a transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests import factories
from traces import partitions, retention
from traces.ingest import parse_document
from traces.models import Span
from traces.store import store_spans
from traces.tests.builders import otlp_doc, otlp_span, sid, tid

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's")

BEFORE = [("traces", "0005_logrecord")]
AFTER = [("traces", "0007_logrecord_partitions")]
DAY_NS = 86_400 * 1_000_000_000


def _doc(trace_id: str, start_ns: int, n: int = 3) -> list:
    spans = [otlp_span(trace_id, sid(), name=f"op-{i}") for i in range(n)]
    for i, s in enumerate(spans):
        s["startTimeUnixNano"] = str(start_ns + i)
        s["endTimeUnixNano"] = str(start_ns + i + 1000)
    return parse_document(otlp_doc(("svc", spans))).spans


def _relkind(table: str = "traces_span") -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]


def _migrate(target: list) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)


@pytest.mark.django_db(transaction=True)
def test_the_migration_partitions_a_table_with_spans_and_reverses():
    ns = factories.namespace("payments")
    _migrate(BEFORE)
    try:
        assert _relkind() == "r"
        days = [datetime(2026, 3, d, 10, tzinfo=UTC) for d in (1, 2, 5)]
        for when in days:
            store_spans(ns, _doc(tid(), int(when.timestamp()) * 1_000_000_000))
        before = sorted(Span.objects.values_list("id", "trace_id", "span_id"))
        _migrate(AFTER)
        assert _relkind() == "p"
        have = set(partitions.days(partitions.SPANS))
        assert {d.date() for d in days} <= have
        assert sorted(Span.objects.values_list("id", "trace_id", "span_id")) == before
        # The identity continues past the moved rows; an exporter's retry is stored once.
        again = _doc(tid(), int(days[0].timestamp()) * 1_000_000_000)
        assert store_spans(ns, again).inserted == 3
        retry = store_spans(ns, again)
        assert (retry.inserted, retry.duplicates) == (0, 3)
        assert min(Span.objects.filter(trace_id=again[0].trace_id).values_list("id", flat=True)) > before[-1][0]
        _migrate(BEFORE)
        assert _relkind() == "r"
        assert Span.objects.count() == 12
    finally:
        _migrate(AFTER)
    assert _relkind() == "p"
    assert _relkind("traces_logrecord") == "p"


def test_a_span_for_a_day_without_a_partition_makes_the_writer_create_that_day(ns):
    long_ago = int(datetime(2001, 9, 9, 1, 46, tzinfo=UTC).timestamp()) * 1_000_000_000
    assert partitions.SPANS.day_of(long_ago) not in partitions.days(partitions.SPANS)
    spans = _doc(tid(), long_ago)
    assert store_spans(ns, spans).inserted == 3
    assert partitions.SPANS.day_of(long_ago) in partitions.days(partitions.SPANS)
    # A retry of the same spans, mixed with one for another missing day (the staging path), stores only the new.
    other = _doc(tid(), long_ago + 40 * DAY_NS, n=1)
    result = store_spans(ns, [*spans, *other])
    assert (result.inserted, result.duplicates) == (1, 3)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_an_expired_day_is_detached_concurrently_and_dropped():
    ns = factories.namespace("payments")
    today = datetime.now(UTC).date()
    old = today - timedelta(days=20)
    start = partitions.SPANS.bounds(old)[0] + 5
    store_spans(ns, _doc(tid(), start))
    kept = tid()
    store_spans(ns, _doc(kept, partitions.SPANS.bounds(today)[0] + 5))
    assert not connection.in_atomic_block
    result = retention.prune_spans({ns.pk: today - timedelta(days=7)})
    assert partitions.SPANS.name_of(old) in result.partitions_dropped  # (and any a test before left)
    assert set(Span.objects.values_list("trace_id", flat=True)) == {kept}


def test_ensure_partitions_creates_today_and_the_days_ahead_once(ns, settings):
    settings.JOBTRACE_PARTITIONS_AHEAD_DAYS = 5
    far = datetime(2031, 1, 1, tzinfo=UTC).date()
    created = retention.ensure_partitions(far)
    days = [far + timedelta(days=i) for i in range(6)]
    assert created == [partitions.SPANS.name_of(d) for d in days] + [partitions.LOGS.name_of(d) for d in days]
    assert retention.ensure_partitions(far) == []


def test_log_records_are_partitioned_by_day_too_and_expire_with_the_spans(ns):
    from traces.logs.ingest import parse_logs
    from traces.logs.models import LogRecord
    from traces.logs.store import store_logs
    from traces.logs.tests.builders import line, request

    today = datetime.now(UTC).date()
    old, recent = today - timedelta(days=9), today - timedelta(days=2)
    for day, text in ((old, "old"), (recent, "recent")):
        at = partitions.LOGS.bounds(day)[0] + 7
        records = parse_logs(request([line(text, at), line(f"{text} 2", at + 1)]), json_body=False).records
        assert store_logs(ns, records).inserted == 2
        assert store_logs(ns, records).inserted == 0  # an exporter's retry
    assert {old, recent} <= set(partitions.days(partitions.LOGS))
    result = retention.prune_spans({ns.pk: today - timedelta(days=7)})
    assert partitions.LOGS.name_of(old) in result.partitions_dropped
    assert partitions.LOGS.name_of(recent) not in result.partitions_dropped
    assert sorted(LogRecord.objects.values_list("body_text", flat=True)) == ["recent", "recent 2"]


@pytest.mark.django_db(transaction=True)  # the command closes its old connections between checks
def test_the_monitor_creates_the_days_ahead_so_no_write_waits_to_create_its_day(ns, settings):
    from django.core.management import call_command

    settings.JOBTRACE_PARTITIONS_AHEAD_DAYS = 4
    today = datetime.now(UTC).date()
    ahead = today + timedelta(days=4)
    with connection.cursor() as cursor:
        for spec in partitions.TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {spec.name_of(ahead)}")
    assert ahead not in partitions.days(partitions.SPANS)
    call_command("monitor", "--once")
    assert ahead in partitions.days(partitions.SPANS)
    assert ahead in partitions.days(partitions.LOGS)
