"""Jobs overview, job, execution and shard pages: what they show, their filters, and their pinned query counts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from console import links
from jobs.choices import RunStatus
from tests import factories, pages_support
from tests import factories_traces as ft
from tests.pages_support import AUTH, text_of

own_queries_only = pages_support.own_queries_only
fast_passwords = pages_support.fast_passwords  # fixture: other features' template tags stubbed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def test_the_overview_lists_jobs_with_rates_percentiles_and_a_sparkline_in_a_fixed_number_of_queries(
    owner_client, ns, django_assert_num_queries
):
    now = timezone.now()
    for j in range(6):
        job = factories.job(ns, f"job-{j}")
        for i in range(5):
            start = now - timedelta(hours=i * 10 + 1)
            factories.execution(
                job,
                status=RunStatus.FAILED if (j == 0 and i == 0) else RunStatus.SUCCEEDED,
                started_at=start,
                finished_at=start + timedelta(seconds=5 + i),
            )
    factories.execution(factories.job(ns, "running-job"), status=RunStatus.RUNNING, started_at=now)
    # jobs (with last status), 7 days of runs, conditions (missed/late/stuck), namespaces; the last run against the
    # usual (jobs/compare/tags.py)
    with django_assert_num_queries(AUTH + 5):
        response = owner_client.get("/")
    assert response.status_code == 200
    body = text_of(response)
    assert body.count('class="job-link"') == 7
    assert "1 failing now" in body
    assert "1 running now" in body
    assert "<polyline" in body
    assert "80%" in body  # job-0: 4 of 5 over 7 days


def test_the_overview_filters_by_namespace_status_and_name(owner_client, ns):
    factories.execution(factories.job(ns, "nightly-export"), status=RunStatus.FAILED)
    factories.execution(factories.job(ns, "hourly-sync"), status=RunStatus.SUCCEEDED)
    body = owner_client.get("/", {"status": "failing"}).content.decode()
    assert "nightly-export" in body
    assert "hourly-sync" not in body
    body = owner_client.get("/", {"q": "sync"}).content.decode()
    assert "hourly-sync" in body
    assert "nightly-export" not in body
    assert "hourly-sync" not in owner_client.get("/", {"namespace": "search-team"}).content.decode()


def test_the_failing_now_badge_links_to_the_failing_filter(owner_client, ns):
    factories.execution(factories.job(ns, "nightly-export"), status=RunStatus.FAILED)
    factories.execution(factories.job(ns, "hourly-sync"), status=RunStatus.SUCCEEDED)
    body = owner_client.get("/").content.decode()
    [href] = re.findall(r'<a class="chip st st-red" id="failing-now" href="([^"]+)">1 failing now</a>', body)
    assert href == "/?status=failing"
    followed = owner_client.get(href).content.decode()
    assert "nightly-export" in followed
    assert "hourly-sync" not in followed
    # Within a namespace filter, it keeps the namespace.
    body = owner_client.get("/", {"namespace": ns.name}).content.decode()
    assert f'href="/?namespace={ns.name}&amp;status=failing"' in body


def test_the_overview_shows_only_the_callers_namespaces(owner_client, ns, other_ns):
    factories.job(ns, "ours")
    factories.job(other_ns, "theirs-secret-job")
    body = owner_client.get("/").content.decode()
    assert "ours" in body
    assert "theirs-secret-job" not in body


def test_a_superuser_sees_every_namespace(client, ns, other_ns):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-Jobtrace-1")
    client.force_login(admin)
    factories.job(ns, "ours")
    factories.job(other_ns, "theirs")
    body = client.get("/").content.decode()
    assert "ours" in body
    assert "theirs" in body


@pytest.mark.usefixtures("own_queries_only")
def test_the_job_page_makes_a_five_to_fifteen_second_regression_stand_out(owner_client, ns, django_assert_num_queries):
    job = factories.job(ns, "nightly-ecommerce")
    now = timezone.now()
    for i in range(20):
        start = now - timedelta(days=20 - i)
        seconds = 15.2 if i == 19 else 4.6 + (i % 3) * 0.1
        factories.execution(job, f"run-{i}", started_at=start, finished_at=start + timedelta(seconds=seconds))
    url = links.job_url(ns.name, job.name)
    with django_assert_num_queries(AUTH + 5):  # job, count, page, shard counts, chart
        response = owner_client.get(url)
    body = text_of(response)
    assert body.count('class="bar slow"') == 1
    assert 'id="slow-count">1<' in body
    slow_bar = re.search(r'<a href="([^"]+)"><rect class="bar slow"', body)
    assert slow_bar
    assert slow_bar.group(1).endswith("/runs/run-19/")
    assert "15.2 s" in body


def test_the_job_chart_has_a_y_axis_and_a_legend_of_separate_keys_and_sampling_sits_below_the_runs(owner_client, ns):
    job = factories.job(ns, "nightly-ecommerce")
    now = timezone.now()
    for i in range(6):
        start = now - timedelta(days=6 - i)
        seconds = 17.6 if i == 5 else 4.0
        status = RunStatus.FAILED if i == 2 else RunStatus.SUCCEEDED
        factories.execution(job, f"run-{i}", started_at=start, finished_at=start + timedelta(seconds=seconds),
                            status=status)  # fmt: skip
    body = text_of(owner_client.get(links.job_url(ns.name, job.name)))
    axis = re.search(r'<div class="y-axis" aria-hidden="true">(.*?)</div>', body).group(1)
    assert re.findall(r'<span class="y-tick">([^<]+)</span>', axis) == ["17.6 s", "8.8 s", "0 ms"]
    legend = re.search(r'<ul class="legend chart-legend">(.*?)</ul>', body).group(1)
    items = re.findall(r"<li>(.*?)</li>", legend)
    assert len(items) == 3
    assert "failed" in items[2]
    assert 'id="failed-count">1<' in items[2]
    assert "longest" not in legend  # the axis says it; the legend lists only what the colours mean
    assert body.index("<h2>Executions</h2>") < body.index('id="sampling"')


def test_the_job_page_lists_executions_with_shard_counts_and_filters_them(owner_client, ns):
    job = factories.job(ns, "batch")
    bad = factories.execution(job, "bad-run", status=RunStatus.FAILED, trace_id=factories.trace_id(), sampled=True)
    factories.execution(job, "good-run", status=RunStatus.SUCCEEDED)
    for i in range(3):
        factories.shard(bad, status=RunStatus.FAILED if i == 0 else RunStatus.SUCCEEDED)
    url = links.job_url(ns.name, job.name)
    body = text_of(owner_client.get(url))
    assert "bad-run" in body
    assert "good-run" in body
    assert '2 / <span class="bad">1</span>' in body
    assert links.trace_url(bad.trace_id) in body
    body = text_of(owner_client.get(url, {"status": "failing"}))
    table = body[body.index('class="list executions"') :]
    assert "bad-run" in table
    assert "good-run" not in table
    fragment = owner_client.get(url, {"status": "succeeded"}, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment
    assert "good-run" in fragment


@pytest.mark.usefixtures("own_queries_only")
def test_the_execution_page_counts_shards_in_the_database_and_lists_failing_first(
    owner_client, ns, django_assert_num_queries
):
    scenario = ft.account_migration(ns)
    url = links.execution_url_of(scenario.execution)
    # execution, status counts, shard page, trace summary, linked traces; the log panel's page and (a failed run)
    # its error lines
    with django_assert_num_queries(AUTH + 7):
        response = owner_client.get(url)
    body = text_of(response)
    assert "Failed <strong>1</strong>" in body
    assert "Succeeded <strong>49</strong>" in body
    rows = re.findall(r'<a href="([^"]+/shards/[^"]+/)" class="mono">', body)
    assert rows[0] == links.shard_url_of(scenario.failing)
    assert len(rows) == 50
    assert "1 of 50 shards failed" in body


@pytest.mark.usefixtures("own_queries_only")
def test_the_execution_page_finds_the_shard_of_account_1000002(owner_client, ns, django_assert_num_queries):
    scenario = ft.account_migration(ns)
    url = links.execution_url_of(scenario.execution)
    with django_assert_num_queries(AUTH + 8):  # + the filtered count
        response = owner_client.get(url, {"label": "account=1000002"})
    rows = re.findall(r'<a href="([^"]+/shards/[^"]+/)" class="mono">', response.content.decode())
    assert rows == [links.shard_url_of(scenario.failing)]
    rows = re.findall(
        r'<a href="([^"]+/shards/[^"]+/)" class="mono">',
        owner_client.get(url, {"label": "account:1000007"}).content.decode(),
    )
    assert rows == [links.shard_url_of(scenario.shards[7])]
    assert owner_client.get(url, {"label": "nonsense"}).status_code == 400


def test_the_execution_page_paginates_many_shards(owner_client, ns):
    job = factories.job(ns, "wide")
    run = factories.execution(job, "wide-1", status=RunStatus.FAILED)
    from jobs.models import Shard

    Shard.objects.bulk_create(
        Shard(namespace=ns, execution=run, shard_id=f"s{i}", index=i, status=RunStatus.SUCCEEDED) for i in range(250)
    )
    Shard.objects.filter(shard_id="s249").update(status=RunStatus.FAILED)
    url = links.execution_url_of(run)
    body = text_of(owner_client.get(url))
    assert body.count('class="mono">s') == 100
    assert "page 1 of 3 (250 rows)" in body
    assert body.index(">s249<") < body.index(">s0<")  # the failing shard first
    body = text_of(owner_client.get(url, {"page": 3, "status": "succeeded"}))
    assert "page 3 of 3 (249 rows)" in body


@pytest.mark.usefixtures("own_queries_only")
def test_the_shard_page_opens_the_failing_span_with_its_exception(owner_client, ns, django_assert_num_queries):
    scenario = ft.account_migration(ns)
    url = links.shard_url_of(scenario.failing)
    # shard, spans, the failing span (and its logs), the log panel's page and (a failed shard) its error lines
    with django_assert_num_queries(AUTH + 6):
        response = owner_client.get(url)
    body = text_of(response)
    assert response.status_code == 200
    panel = body[body.index('id="span-panel"') :]
    assert "validate account" in panel
    assert "FieldLengthValidationError" in panel
    assert ft.VALIDATION_ERROR.replace("'", "&#x27;") in panel
    assert "accounts/validate.py" in panel  # the stack trace
    assert "validation.max_length" in panel
    assert 'class="wf-row d3 err selected"' in body or "selected" in body
    assert body.count('class="wf-row') == 6
    assert links.execution_url_of(scenario.execution) in body  # breadcrumbs


def test_the_shard_page_says_when_the_shards_spans_never_arrived(owner_client, ns):
    run = factories.execution(factories.job(ns), status=RunStatus.FAILED)
    shard = factories.shard(run, "lonely", status=RunStatus.FAILED, trace_id=factories.trace_id())
    body = text_of(owner_client.get(links.shard_url_of(shard)))
    assert "propagation gap" in body


def test_the_shard_page_shows_only_the_subtree_under_the_shards_span(owner_client, ns):
    run = factories.execution(factories.job(ns), trace_id=factories.trace_id())
    tid = run.trace_id
    root = ft.span(ns, tid, name="map", start_ns=0, duration_ms=100)
    mine = ft.span(ns, tid, parent=root.span_id, name="shard-7-work", start_ns=1, duration_ms=10)
    ft.span(ns, tid, parent=mine.span_id, name="shard-7-child", start_ns=2, duration_ms=5)
    ft.span(ns, tid, parent=root.span_id, name="shard-8-work", start_ns=20, duration_ms=10)
    shard = factories.shard(run, "7", trace_id=tid, span_id=mine.span_id)
    body = owner_client.get(links.shard_url_of(shard)).content.decode()
    assert "shard-7-child" in body
    assert "shard-8-work" not in body
    assert "orphan" not in body


def test_the_label_filter_is_written_one_way_in_the_readme_and_on_the_page(owner_client, ns):
    """README and the field's placeholder say the same `key:value` (the page reads `key=value` too)."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    scenario = ft.account_migration(ns)
    body = owner_client.get(links.execution_url_of(scenario.execution)).content.decode()
    [placeholder] = re.findall(r'name="label" value="[^"]*" placeholder="([^"]+)"', body)
    assert placeholder == "account:1000002"
    assert f"`{placeholder}`" in readme
    assert "account=1000002" not in readme
