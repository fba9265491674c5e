"""Run vs run (page and API), trace vs trace, one shard across runs, the execution page's "against the usual" and
the overview's slower-than-usual flag: what they show, their links, their query counts, and the outsider's 404."""

from __future__ import annotations

import re

import pytest

from console import links
from jobs.choices import RunStatus
from jobs.compare import queries
from jobs.compare.tests.scenario import nightly
from jobs.models import Job
from tests import factories, pages_support
from tests.pages_support import AUTH, text_of
from traces.models import Span

fast_passwords = pages_support.fast_passwords
own_queries_only = pages_support.own_queries_only

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def _compare_url(job, a, b):
    return links.run_compare_url(job.namespace.name, job.name, a.execution_id, b.execution_id)


def _span(trace_id, name):
    return Span.objects.filter(trace_id=trace_id, name=name).order_by("-duration_ns").first().span_id


def test_two_runs_compared_put_the_slower_downstream_operation_first_and_link_both_runs_spans(
    owner_client, ns, django_assert_num_queries
):
    story = nightly(ns)
    usual, slow = story.runs[2], story.runs[3]
    # session, user, access; both runs; each run's trace and spans; each run's shard counts and failing shards
    with django_assert_num_queries(AUTH + 9):
        response = owner_client.get(_compare_url(story.job, usual, slow))
    assert response.status_code == 200
    body = text_of(response)
    summary = re.sub(
        r"<[^>]+>", "", body[body.index('id="compare-summary"') : body.index("</p>", body.index("compare-summary"))]
    )
    assert "+12.00 s" in summary
    assert "ServiceApplication userInfoSave +12.00 s" in summary
    first = re.search(r'<tr class="cmp-row[^"]*"(.*?)</tr>', body).group(1)
    assert "userInfoSave" in first
    assert "3 → 3" in first
    assert f'href="{links.trace_url(usual.trace_id, _span(usual.trace_id, "userInfoSave"))}"' in first
    assert f'href="{links.trace_url(slow.trace_id, _span(slow.trace_id, "userInfoSave"))}"' in first
    arrow = "\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}"
    assert f"in export-worker: nightly-export {arrow} export-worker: POST /users/{{id}}" in first  # ids grouped


def test_the_compare_api_answers_the_same_comparison_to_a_read_token(reader, ns):
    story = nightly(ns)
    a, b = story.runs[0], story.runs[4]
    url = f"/api/v1/jobs/{ns.name}/nightly-export/executions/{a.execution_id}/compare/{b.execution_id}"
    response = reader.get(url)
    assert response.status_code == 200
    doc = response.json()
    top = doc["traces"]["operations"][0]
    assert (top["service"], top["name"], top["self_delta_ns"]) == ("ServiceApplication", "userInfoSave", 12_000_000_000)
    assert top["b"]["url"] == links.trace_url(b.trace_id, top["b"]["span_id"])
    assert doc["a"]["execution_id"] == a.execution_id
    assert doc["b"]["shards"] == {"total": 0, "failed": 0, "by_status": {}}
    assert doc["traces"]["only_in_a"] == doc["traces"]["only_in_b"] == []


def test_an_outsider_and_an_unknown_run_get_404_from_page_and_api(client, outsider, outsider_api, owner_client, ns):
    story = nightly(ns, fast=1, slow=1)
    a, b = story.runs
    client.force_login(outsider)
    assert client.get(_compare_url(story.job, a, b)).status_code == 404
    api_url = f"/api/v1/jobs/{ns.name}/nightly-export/executions/{a.execution_id}/compare/{b.execution_id}"
    assert outsider_api.get(api_url).status_code == 404
    assert client.get(links.trace_compare_url(a.trace_id, b.trace_id)).status_code == 404
    assert client.get(links.job_shard_url(ns.name, "nightly-export", "s-1")).status_code == 404
    assert owner_client.get(links.run_compare_url(ns.name, "nightly-export", a.execution_id, "nope")).status_code == 404


def test_shard_counts_and_shards_failing_in_one_run_only(owner_client, ns):
    story = nightly(ns, fast=1, slow=1)
    a, b = story.runs
    for i in range(4):
        factories.shard(a, f"acct-{i}", status=RunStatus.FAILED if i == 1 else RunStatus.SUCCEEDED)
        factories.shard(b, f"acct-{i}", status=RunStatus.FAILED if i in (1, 2) else RunStatus.SUCCEEDED)
    result = queries.compare_runs(a, b)
    assert (result.shards_a.total, result.shards_a.failed, result.shards_b.failed) == (4, 1, 2)
    assert result.failing_only_in_b == ["acct-2"]
    assert result.failing_only_in_a == []
    body = text_of(owner_client.get(_compare_url(story.job, a, b)))
    assert f'href="{links.shard_url(ns.name, "nightly-export", b.execution_id, "acct-2")}" class="shard-only-b"' in body


def test_two_traces_compared_by_id(owner_client, ns):
    story = nightly(ns, fast=1, slow=1)
    a, b = story.runs
    body = text_of(owner_client.get(links.trace_compare_url(a.trace_id, b.trace_id)))
    assert "ServiceApplication</span> userInfoSave +12.00 s" in body
    assert f'href="{links.trace_url(b.trace_id, _span(b.trace_id, "userInfoSave"))}"' in body


@pytest.mark.usefixtures("own_queries_only")
def test_one_shard_across_runs_shows_its_status_and_trace_in_each_run(owner_client, ns, django_assert_num_queries):
    story = nightly(ns, fast=3, slow=0)
    for i, run in enumerate(story.runs):
        status = RunStatus.FAILED if i else RunStatus.SUCCEEDED
        factories.shard(
            run, "acct-1000002", labels={"account": "1000002"}, trace_id=factories.trace_id(), status=status
        )
    url = links.job_shard_url(ns.name, "nightly-export", "acct-1000002")
    with django_assert_num_queries(AUTH + 2):  # the job, the shard in each run
        body = text_of(owner_client.get(url))
    assert "failed in 2 of 3 runs" in body
    assert '<span class="label">account 1000002</span>' in body
    for run in story.runs:
        assert f'href="{links.shard_url(ns.name, "nightly-export", run.execution_id, "acct-1000002")}"' in body
    shard_traces = run.shards.values_list("trace_id", flat=True)
    assert f'href="{links.trace_url(shard_traces[0])}"' in body
    rows = re.findall(r'<tr class="(failed)?">', body)
    assert rows == ["failed", "failed", ""]  # newest run first: the oldest one succeeded


def test_the_execution_page_says_how_the_run_compares_with_the_usual_and_links_the_comparisons(
    owner_client, ns, django_assert_num_queries
):
    story = nightly(ns, fast=3, slow=2)
    first_slow, second_slow = story.runs[3], story.runs[4]
    with django_assert_num_queries(1):  # the previous successful runs, with their job for the links
        usual = queries.usual_of(second_slow)
    assert usual.usual_ms == 1360  # the median of 1360, 1360, 1360, 13360
    assert usual.previous == first_slow
    assert usual.usual_run == story.runs[2]
    body = text_of(owner_client.get(links.execution_url_of(first_slow)))
    usual = body[body.index('id="against-usual"') :]
    assert "slower than usual" in usual
    assert "the median of the 3 previous successful runs" in usual
    assert f'href="{_compare_url(story.job, story.runs[2], first_slow)}" id="compare-previous"' in usual
    assert 'id="compare-usual"' not in usual  # the previous run was a usual one
    body = text_of(owner_client.get(links.execution_url_of(second_slow)))
    usual = body[body.index('id="against-usual"') :]
    assert f'href="{_compare_url(story.job, first_slow, second_slow)}" id="compare-previous"' in usual
    assert f'href="{_compare_url(story.job, story.runs[2], second_slow)}" id="compare-usual"' in usual


@pytest.mark.usefixtures("own_queries_only")
def test_the_overview_flags_a_job_whose_last_run_is_much_slower_than_its_usual(
    owner_client, ns, django_assert_num_queries
):
    nightly(ns, fast=5, slow=5)  # a regression of five nights: the week's p50 is the slow duration now
    steady = factories.job(ns, "steady")
    for n in range(4):
        factories.execution(steady, f"s-{n}", duration_ms=1000 + n)
    # jobs, their week of runs, the schedule conditions (missed/late/stuck), namespaces (the flag is a feature tag)
    with django_assert_num_queries(AUTH + 4):
        owner_client.get("/")
    jobs = {j.name: j.pk for j in Job.objects.filter(namespace=ns)}
    with django_assert_num_queries(1):  # every job of the list at once
        usual = queries.last_against_usual(jobs.values())
    assert usual[jobs["nightly-export"]].slower
    assert not usual[jobs["steady"]].slower


def test_the_overview_shows_the_flag(owner_client, ns):
    nightly(ns, fast=5, slow=5)
    body = text_of(owner_client.get("/"))
    flag = re.search(r'nightly-export</a>.*?<span class="tag slower-than-usual"[^>]*>([^<]+)</span>', body)
    assert flag
    assert flag.group(1).endswith("\N{MULTIPLICATION SIGN} usual")


def test_the_compare_api_lists_at_most_limit_operations_and_refuses_a_bad_limit(reader, ns):
    story = nightly(ns, fast=1, slow=1)
    a, b = story.runs
    url = f"/api/v1/jobs/{ns.name}/nightly-export/executions/{a.execution_id}/compare/{b.execution_id}"
    doc = reader.get(url, {"limit": 2}).json()
    assert len(doc["traces"]["operations"]) == 2
    assert doc["traces"]["operation_count"] == 4
    for bad in ("0", "x", "10001"):
        response = reader.get(url, {"limit": bad})
        assert response.status_code == 400
        assert "limit" in response.json()
