"""Retention: per-namespace days (the job page shows them; the namespace's admin changes them, a viewer may not, an
outsider gets 404), and `manage.py prune`, which removes spans and records past them and leaves summaries, links and
messages naming only what is left; a trace whose spans expired says so (never a bare 404). Both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from jobs.choices import Role
from jobs.models import Alert, Execution, Message, Namespace, Shard
from jobs.retention.prune import run
from tests import factories
from traces import partitions
from traces.ingest import parse_document
from traces.models import Span, SpanLink, Trace
from traces.store import store_spans
from traces.tests.builders import otlp_doc, otlp_span, sid, tid

TODAY = datetime.now(UTC).date()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _noon(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp()) * 1_000_000_000


def _store_trace(ns: Namespace, day: date, n: int = 3, *, links: list[tuple[str, str]] | None = None) -> str:
    """A trace of n spans started at noon of `day`, through the real writer."""
    trace_id, root = tid(), sid()
    spans = [otlp_span(trace_id, root, name="root", links=links)]
    spans += [otlp_span(trace_id, sid(), parent=root, name=f"child-{i}", start_ms=i) for i in range(n - 1)]
    offset = _noon(day) - int(spans[0]["startTimeUnixNano"])
    for s in spans:
        s["startTimeUnixNano"] = str(int(s["startTimeUnixNano"]) + offset)
        s["endTimeUnixNano"] = str(int(s["endTimeUnixNano"]) + offset)
    store_spans(ns, parse_document(otlp_doc(("checkout", spans))).spans)
    return trace_id


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- the settings and the form ---------------------------------------------------------------------------------


def test_a_namespace_keeps_the_site_defaults_until_its_admin_changes_them(ns, settings):
    settings.JOBTRACE_SPAN_RETENTION_DAYS, settings.JOBTRACE_RECORD_RETENTION_DAYS = 5, 60
    assert (ns.span_retention, ns.record_retention) == (5, 60)
    ns.span_retention_days = 2
    assert (ns.span_retention, ns.record_retention) == (2, 60)


def test_the_job_page_shows_the_retention_and_its_admin_changes_it(ns, owner):
    job = factories.job(ns, "nightly-export")
    client = _login(owner)
    page = client.get(f"/jobs/{ns.name}/{job.name}/").content.decode()
    assert 'data-span-days="7"' in page
    assert 'data-record-days="90"' in page
    assert "retention-form" in page
    answer = client.post(f"/jobs/{ns.name}/retention", {"span_days": "3", "record_days": "30", "job": job.name})
    assert answer.status_code == 302
    assert answer["Location"] == f"/jobs/{ns.name}/{job.name}/?retention=saved#retention"
    ns.refresh_from_db()
    assert (ns.span_retention_days, ns.record_retention_days) == (3, 30)
    page = client.get(answer["Location"]).content.decode()
    assert 'data-span-days="3"' in page
    assert "Saved." in page


@pytest.mark.parametrize(
    ("span_days", "record_days", "named"),
    [("0", "30", "span_days"), ("x", "30", "span_days"), ("3", "99999", "record_days"), ("40", "30", "span_days")],
)
def test_bad_days_change_nothing_and_say_which_field(ns, owner, span_days, record_days, named):
    job = factories.job(ns, "nightly-export")
    answer = _login(owner).post(
        f"/jobs/{ns.name}/retention", {"span_days": span_days, "record_days": record_days, "job": job.name}
    )
    assert answer.status_code == 302
    assert f"retention=invalid-{named}" in answer["Location"]
    ns.refresh_from_db()
    assert ns.span_retention_days is None
    assert ns.record_retention_days is None
    assert _login(owner).post(f"/jobs/{ns.name}/retention", {"span_days": span_days}).status_code == 400


def test_an_editor_sees_the_retention_but_may_not_change_it(ns):
    editor = factories.user(ns, Role.EDITOR, username="editor")
    job = factories.job(ns, "nightly-export")
    client = _login(editor)
    page = client.get(f"/jobs/{ns.name}/{job.name}/").content.decode()
    assert 'data-span-days="7"' in page
    assert "retention-form" not in page
    assert client.post(f"/jobs/{ns.name}/retention", {"span_days": "1", "record_days": "1"}).status_code == 403
    ns.refresh_from_db()
    assert ns.span_retention_days is None


def test_an_outsider_gets_404_for_a_namespace_and_for_one_that_does_not_exist(ns, outsider):
    client = _login(outsider)
    for name in (ns.name, "no-such-namespace"):
        assert client.post(f"/jobs/{name}/retention", {"span_days": "1", "record_days": "1"}).status_code == 404
    ns.refresh_from_db()
    assert ns.span_retention_days is None


# --- prune -----------------------------------------------------------------------------------------------------


def test_prune_removes_spans_past_the_span_retention_and_keeps_the_rest(ns):
    old = _store_trace(ns, TODAY - timedelta(days=8))
    edge = _store_trace(ns, TODAY - timedelta(days=7))  # the first kept day
    new = _store_trace(ns, TODAY)
    out = StringIO()
    call_command("prune", stdout=out)
    left = set(Span.objects.values_list("trace_id", flat=True))
    assert left == {edge, new}
    # The summary stays (a record): the trace page reads it as expired.
    assert set(Trace.objects.values_list("trace_id", flat=True)) == {old, edge, new}
    assert "partitions dropped" in out.getvalue()


def test_a_namespace_that_keeps_spans_longer_keeps_them_while_another_loses_its_own(ns, other_ns):
    other_ns.span_retention_days = 30
    other_ns.save()
    mine = _store_trace(ns, TODAY - timedelta(days=10))
    theirs = _store_trace(other_ns, TODAY - timedelta(days=10))
    result = run()
    assert set(Span.objects.values_list("trace_id", flat=True)) == {theirs}
    assert result.spans.spans_deleted == 3  # the shorter retention's spans, in batches: the day is not dropped
    assert mine not in set(Span.objects.values_list("trace_id", flat=True))


def test_prune_deletes_in_bounded_batches(ns):
    for _ in range(4):
        _store_trace(ns, TODAY - timedelta(days=9), n=5)
    other = factories.namespace("long-keeper")
    other.span_retention_days = 30
    other.save()
    result = run(batch=3)
    assert not Span.objects.filter(namespace=ns).exists()
    if partitions.is_partitioned(partitions.SPANS):
        assert result.spans.spans_deleted == 20
        assert not result.spans.partitions_dropped
    else:
        assert result.spans.spans_deleted == 20


def test_span_links_of_expired_spans_go_with_them(ns):
    target = _store_trace(ns, TODAY)
    target_span = Span.objects.filter(trace_id=target).values_list("span_id", flat=True).first()
    source = _store_trace(ns, TODAY - timedelta(days=8), links=[(target, target_span)])
    kept = _store_trace(ns, TODAY - timedelta(days=1), links=[(target, target_span)])
    assert SpanLink.objects.count() == 2
    run()
    assert list(SpanLink.objects.values_list("trace_id", flat=True)) == [kept]
    assert not Span.objects.filter(trace_id=source).exists()


def test_records_past_the_record_retention_go_and_what_named_them_follows(ns):
    job = factories.job(ns, "nightly-export")
    long_ago = datetime.now(UTC) - timedelta(days=91)
    old = factories.execution(job, "old-run")
    old_shard = factories.shard(old, "s-1")
    kept_by_shard = factories.execution(job, "busy-run")
    recent_shard = factories.shard(kept_by_shard, "s-2")
    recent = factories.execution(job, "new-run")
    Execution.objects.filter(pk__in=[old.pk, kept_by_shard.pk]).update(updated_at=long_ago)
    Shard.objects.filter(pk=old_shard.pk).update(updated_at=long_ago)
    Message.objects.create(namespace=ns, message_id="m-old", updated_at=long_ago)
    Message.objects.create(namespace=ns, message_id="m-new")
    Alert.objects.create(namespace=ns, fingerprint="a-old", starts_at=long_ago, updated_at=long_ago)
    trace_id = _store_trace(ns, TODAY - timedelta(days=95))
    Trace.objects.filter(trace_id=trace_id).update(execution=old)
    result = run()
    assert set(Execution.objects.values_list("execution_id", flat=True)) == {"busy-run", "new-run"}
    assert set(Shard.objects.values_list("shard_id", flat=True)) == {recent_shard.shard_id}
    assert list(Message.objects.values_list("message_id", flat=True)) == ["m-new"]
    assert not Alert.objects.exists()
    assert not Trace.objects.filter(trace_id=trace_id).exists()
    assert result.deleted["jobs.Execution"] == 1
    assert result.deleted["jobs.Shard"] == 1
    assert recent.pk in set(Execution.objects.values_list("pk", flat=True))


def test_an_expired_traces_page_says_so_and_names_the_retention(ns, owner):
    job = factories.job(ns, "nightly-export")
    execution = factories.execution(job, "run-1")
    trace_id = _store_trace(ns, TODAY - timedelta(days=8))
    Trace.objects.filter(trace_id=trace_id).update(execution=execution, job=job)
    run()
    answer = _login(owner).get(f"/traces/{trace_id}/")
    page = answer.content.decode()
    assert answer.status_code == 410
    assert "expired by the retention of 7 days" in page
    assert "run-1" in page
    assert "JAEGER_QUERY_URL" in page  # the query-through it would offer


def test_an_outsider_gets_404_for_an_expired_trace(ns, outsider):
    trace_id = _store_trace(ns, TODAY - timedelta(days=8))
    run()
    assert _login(outsider).get(f"/traces/{trace_id}/").status_code == 404


def test_prune_on_an_empty_database_changes_nothing(db):
    result = run()
    assert result.spans.spans_deleted == 0
    assert not result.deleted


@pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's")
def test_on_postgresql_expired_days_are_whole_partitions_dropped(ns):
    _store_trace(ns, TODAY - timedelta(days=8))
    keep = _store_trace(ns, TODAY - timedelta(days=6))
    old_day = partitions.SPANS.name_of(TODAY - timedelta(days=8))
    assert old_day in partitions.days(partitions.SPANS).values()
    result = run()
    assert old_day in result.spans.partitions_dropped
    assert result.spans.spans_deleted == 0
    assert old_day not in partitions.days(partitions.SPANS).values()
    assert set(Span.objects.values_list("trace_id", flat=True)) == {keep}
    ahead = {partitions.SPANS.name_of(TODAY + timedelta(days=i)) for i in range(4)}
    assert ahead <= set(partitions.days(partitions.SPANS).values())


def test_the_trace_api_says_an_expired_traces_spans_are_gone(ns, reader):
    trace_id = _store_trace(ns, TODAY - timedelta(days=8))
    run()
    body = reader.get(f"/api/v1/traces/{trace_id}").json()
    assert body["spans"] == []
    assert [w["kind"] for w in body["warnings"]] == ["expired"]
    assert "retention of 7 days" in body["warnings"][0]["message"]
