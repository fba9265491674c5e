"""Which executions an alert links to: by execution id, shard id, trace id, or a job's runs within its window."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.choices import RunStatus
from jobs.models import Alert, AlertLink
from tests import factories
from tests import factories_alerts as fa
from traces.models import Trace

AM = "/api/v1/alerts/alertmanager"

pytestmark = pytest.mark.django_db


def _fire(client, labels, *, starts_at=None, **kwargs):
    starts_at = starts_at or timezone.now() - timedelta(minutes=2)
    payload = fa.notification(fa.alert(labels, starts_at, **kwargs))
    response = client.post(AM, data=json.dumps(payload), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["alerts"][0]


def _linked(received) -> set[tuple[str, str | None, str]]:
    return {(e["execution_id"], e["shard_id"], e["reason"]) for e in received["executions"]}


def test_an_execution_id_label_links_that_execution(ingester, ns):
    job = factories.job(ns, "nightly-export")
    factories.execution(job, "run-1")
    factories.execution(job, "run-2")
    assert _linked(_fire(ingester, {"job": "nightly-export", "execution_id": "run-2"})) == {
        ("run-2", None, "execution_id")
    }


def test_instance_id_is_read_as_the_execution_id(ingester, ns):
    factories.execution(factories.job(ns, "xxl"), "4711")
    assert _linked(_fire(ingester, {"job_name": "xxl", "instance_id": "4711"})) == {("4711", None, "execution_id")}


def test_the_job_label_picks_between_jobs_sharing_an_execution_id(ingester, ns):
    factories.execution(factories.job(ns, "a"), "7")
    factories.execution(factories.job(ns, "b"), "7")
    received = _fire(ingester, {"job": "b", "execution_id": "7"})
    assert [e["job"] for e in received["executions"]] == ["b"]


def test_a_shard_id_with_an_execution_id_links_that_shard(ingester, ns):
    run = factories.execution(factories.job(ns, "migration"), "run-9")
    factories.shard(run, "acct-1000001")
    factories.shard(run, "acct-1000002", status=RunStatus.FAILED)
    received = _fire(ingester, {"job": "migration", "execution_id": "run-9", "shard_id": "acct-1000002"})
    assert _linked(received) == {("run-9", "acct-1000002", "shard_id")}


def test_a_shard_id_alone_links_the_shard_and_its_execution(ingester, ns):
    run = factories.execution(factories.job(ns, "migration"), "run-9")
    factories.shard(run, "acct-1000002")
    assert _linked(_fire(ingester, {"shard_id": "acct-1000002"})) == {("run-9", "acct-1000002", "shard_id")}


def test_a_trace_id_links_the_execution_that_owns_the_trace(ingester, ns):
    trace_id = factories.trace_id()
    factories.execution(factories.job(ns, "j"), "run-t", trace_id=trace_id)
    assert _linked(_fire(ingester, {"trace_id": trace_id.upper()})) == {("run-t", None, "trace_id")}


def test_a_trace_id_links_the_shard_that_owns_the_trace(ingester, ns):
    trace_id = factories.trace_id()
    run = factories.execution(factories.job(ns, "j"), "run-s")
    factories.shard(run, "s-3", trace_id=trace_id)
    assert _linked(_fire(ingester, {"trace_id": trace_id})) == {("run-s", "s-3", "trace_id")}


def test_a_trace_id_links_through_span_linking_when_only_the_trace_knows_its_execution(ingester, ns):
    trace_id = factories.trace_id()
    job = factories.job(ns, "j")
    run = factories.execution(job, "run-linked")
    shard = factories.shard(run, "s-7")
    Trace.objects.create(
        namespace=ns, trace_id=trace_id, start_ns=1, duration_ns=1, job=job, execution=run, shard=shard
    )
    assert _linked(_fire(ingester, {"trace_id": trace_id})) == {("run-linked", "s-7", "trace_id")}


class TestJobWindow:
    """With only a job label: that job's runs that were running or failed within the alert's window."""

    @pytest.fixture
    def job(self, ns):
        return factories.job(ns, "nightly-export")

    def test_a_failure_inside_the_window_is_linked_and_others_are_not(self, ingester, job):
        now = timezone.now()
        start = now - timedelta(hours=1)
        factories.execution(
            job,
            "failed-in-window",
            status=RunStatus.FAILED,
            started_at=start - timedelta(minutes=5),
            finished_at=start - timedelta(minutes=2),
        )
        factories.execution(job, "still-running", status=RunStatus.RUNNING, started_at=start - timedelta(hours=2))
        factories.execution(
            job,
            "timed-out-in-window",
            status=RunStatus.TIMED_OUT,
            started_at=start + timedelta(minutes=10),
            finished_at=start + timedelta(minutes=20),
        )
        factories.execution(job, "succeeded-in-window", status=RunStatus.SUCCEEDED, started_at=start, finished_at=start)
        factories.execution(
            job,
            "failed-before-the-margin",
            status=RunStatus.FAILED,
            started_at=start - timedelta(hours=3),
            finished_at=start - timedelta(hours=2),
        )
        factories.execution(factories.job(job.namespace, "other-job"), "other", status=RunStatus.FAILED)
        received = _fire(ingester, {"job": "nightly-export"}, starts_at=start)
        assert {e["execution_id"] for e in received["executions"]} == {
            "failed-in-window",
            "still-running",
            "timed-out-in-window",
        }
        assert {e["reason"] for e in received["executions"]} == {"job_window"}

    def test_a_resolved_alert_window_ends_at_its_end(self, ingester, job):
        now = timezone.now()
        start, end = now - timedelta(hours=3), now - timedelta(hours=2)
        factories.execution(
            job, "during", status=RunStatus.FAILED, started_at=start, finished_at=start + timedelta(minutes=1)
        )
        factories.execution(
            job, "after", status=RunStatus.FAILED, started_at=end + timedelta(minutes=30), finished_at=now
        )
        received = _fire(ingester, {"job": "nightly-export"}, starts_at=start, status="resolved", ends_at=end)
        assert {e["execution_id"] for e in received["executions"]} == {"during"}

    def test_the_margin_is_configurable(self, ingester, job, settings):
        start = timezone.now() - timedelta(hours=1)
        factories.execution(
            job,
            "40-minutes-before",
            status=RunStatus.FAILED,
            started_at=start - timedelta(minutes=41),
            finished_at=start - timedelta(minutes=40),
        )
        assert _fire(ingester, {"job": "nightly-export"}, starts_at=start)["executions"] == []
        settings.JOBTRACE_ALERT_WINDOW_MARGIN_SECONDS = 3600
        received = _fire(ingester, {"job": "nightly-export"}, starts_at=start, fingerprint="abcd")
        assert [e["execution_id"] for e in received["executions"]] == ["40-minutes-before"]

    def test_a_repeated_notification_adds_new_failures_without_duplicating_links(self, ingester, job):
        start = timezone.now() - timedelta(minutes=30)
        factories.execution(job, "first", status=RunStatus.FAILED, started_at=start, finished_at=start)
        _fire(ingester, {"job": "nightly-export"}, starts_at=start)
        factories.execution(job, "second", status=RunStatus.FAILED, started_at=start + timedelta(minutes=5))
        received = _fire(ingester, {"job": "nightly-export"}, starts_at=start)
        assert {e["execution_id"] for e in received["executions"]} == {"first", "second"}
        assert AlertLink.objects.count() == 2


def test_label_aliases_from_settings_name_the_job_and_execution(ingester, ns, settings):
    settings.JOBTRACE_ALERT_LABEL_ALIASES = ["task=job", "run=execution_id"]
    factories.execution(factories.job(ns, "billing"), "r-1")
    factories.execution(factories.job(ns, "job-label-says-this"), "r-1")
    received = _fire(ingester, {"task": "billing", "run": "r-1", "job": "job-label-says-this"})
    assert [(e["job"], e["execution_id"]) for e in received["executions"]] == [("billing", "r-1")]


class TestAcrossNamespaces:
    """A token of namespace A never links, nor reveals, B's executions, whatever the labels say."""

    @pytest.fixture
    def twins(self, ns, other_ns):
        """Both namespaces have a job `nightly` with a failed execution `run-1` (and shard, and trace)."""
        made = {}
        for namespace in (ns, other_ns):
            run = factories.execution(
                factories.job(namespace, "nightly"),
                "run-1",
                status=RunStatus.FAILED,
                trace_id=factories.trace_id(),
                started_at=timezone.now() - timedelta(minutes=3),
                finished_at=timezone.now() - timedelta(minutes=2),
            )
            made[namespace.name] = (run, factories.shard(run, "s-1", trace_id=factories.trace_id()))
        return made

    def test_each_rule_links_only_the_callers_namespace(self, ingester, ns, twins):
        for labels in (
            {"job": "nightly", "execution_id": "run-1"},
            {"execution_id": "run-1"},
            {"shard_id": "s-1"},
            {"job": "nightly"},
        ):
            received = _fire(ingester, labels, fingerprint=f"fp-{len(labels)}-{next(iter(labels))}")
            assert {e["namespace"] for e in received["executions"]} == {"payments"}, labels
        assert set(AlertLink.objects.values_list("execution__namespace__name", flat=True)) == {"payments"}

    def test_the_other_namespaces_trace_id_links_nothing(self, ingester, twins):
        theirs, their_shard = twins["search-team"]
        for trace_id in (theirs.trace_id, their_shard.trace_id):
            received = _fire(ingester, {"trace_id": trace_id}, fingerprint=trace_id[:16])
            assert received["executions"] == []
            assert "run-1" not in json.dumps(received)
        assert not AlertLink.objects.exists()

    def test_a_namespace_label_naming_another_namespace_links_nothing(self, ingester, twins):
        received = _fire(ingester, {"namespace": "search-team", "job": "nightly", "execution_id": "run-1"})
        assert received["executions"] == []
        assert "search-team" in received["note"]
        assert not AlertLink.objects.exists()

    def test_an_id_that_exists_only_in_the_other_namespace_is_not_revealed(self, ingester, other_ns):
        factories.execution(factories.job(other_ns, "secret-job"), "secret-run", status=RunStatus.FAILED)
        received = _fire(ingester, {"job": "secret-job", "execution_id": "secret-run"})
        assert received["executions"] == []
        # The note says the same as for an id that does not exist anywhere.
        missing = _fire(ingester, {"job": "no-such-job", "execution_id": "no-such-run"})
        assert received["note"].replace("secret-job", "X").replace("secret-run", "Y") == missing["note"].replace(
            "no-such-job", "X"
        ).replace("no-such-run", "Y")

    def test_a_trace_linked_by_mistake_to_another_namespace_is_not_followed(self, ingester, ns, twins):
        theirs, _ = twins["search-team"]
        trace_id = factories.trace_id()
        Trace.objects.create(namespace=ns, trace_id=trace_id, start_ns=1, duration_ns=1, execution=theirs)
        assert _fire(ingester, {"trace_id": trace_id})["executions"] == []

    def test_the_other_namespaces_alerts_are_stored_apart(self, ingester, outsider_api, ns, other_ns, twins):
        labels = {"job": "nightly", "execution_id": "run-1"}
        start = timezone.now() - timedelta(minutes=1)
        mine = _fire(ingester, labels, starts_at=start)
        theirs = _fire(outsider_api, labels, starts_at=start)
        assert mine["id"] != theirs["id"]
        assert Alert.objects.filter(namespace=ns).count() == Alert.objects.filter(namespace=other_ns).count() == 1
        assert [e["namespace"] for e in theirs["executions"]] == ["search-team"]
