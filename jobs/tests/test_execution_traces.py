"""Every trace linked to an execution, on its page and in its API detail: its own trace id, traces whose spans name
it by job attributes (a Node job that starts a trace per task), traces that link to it, and a trace in which only a
subtree is its; failing first, counted, never another namespace's."""

from __future__ import annotations

import re

import pytest

from console import links
from tests import factories
from tests.pages_support import AUTH, own_queries_only  # noqa: F401 -- fixture
from traces.store import store_spans
from traces.tests.builders import otlp_span, parsed, sid, tid

pytestmark = pytest.mark.django_db


@pytest.fixture
def node_run(ns, other_ns):
    """A run with a trace of its own, three traces that name it by job.* attributes (one failing), one trace that
    links to its root span, one in which a subtree carries its id, and an unrelated trace; and another team's
    run with the same ids."""
    execution = factories.execution(factories.job(ns, "node-export"), "run-8", trace_id=tid())
    root = sid()
    store_spans(ns, parsed(("scheduler", [otlp_span(execution.trace_id, root, name="run node-export")])))
    named = []
    for i in range(3):
        t = tid()
        attrs = {"job.name": "node-export", "job.execution.id": "run-8"}
        store_spans(ns, parsed(("node-worker", [otlp_span(t, sid(), name=f"task {i}", attrs=attrs, error=i == 1)])))
        named.append(t)
    linking = tid()
    consume = otlp_span(linking, sid(), name="consume", links=[(execution.trace_id, root)])
    store_spans(ns, parsed(("consumer", [consume])))
    mixed, mixed_root = tid(), sid()
    store_spans(
        ns,
        parsed(
            (
                "gateway",
                [
                    otlp_span(mixed, mixed_root, name="GET /batch"),
                    otlp_span(mixed, sid(), mixed_root, attrs={"job.execution.id": "run-8"}),
                    otlp_span(mixed, sid(), mixed_root, attrs={"job.execution.id": "other-run"}),
                ],
            )
        ),
    )
    factories.execution(factories.job(ns, "other"), "other-run")
    unrelated = tid()
    store_spans(ns, parsed(("web", [otlp_span(unrelated, sid(), name="GET /")])))
    theirs = factories.execution(factories.job(other_ns, "node-export"), "run-8", trace_id=tid())
    store_spans(other_ns, parsed(("node-worker", [otlp_span(tid(), sid(), attrs={"job.execution.id": "run-8"})])))
    return {
        "execution": execution,
        "named": named,
        "failing": named[1],
        "linking": linking,
        "mixed": mixed,
        "unrelated": unrelated,
        "theirs": theirs,
    }


def expected(node_run) -> set[str]:
    return {node_run["execution"].trace_id, *node_run["named"], node_run["linking"], node_run["mixed"]}


def test_the_api_detail_lists_every_linked_trace_failing_first(reader, outsider_api, node_run):
    url = "/api/v1/jobs/payments/node-export/executions/run-8"
    body = reader.get(url).json()
    linked = body["linked_traces"]
    assert linked["total"] == 6
    assert linked["truncated"] is False
    results = linked["results"]
    assert {r["trace_id"] for r in results} == expected(node_run)
    assert results[0]["trace_id"] == node_run["failing"]
    assert results[0]["error_count"] == 1
    own = next(r for r in results if r["trace_id"] == node_run["execution"].trace_id)
    assert own["relation"] == "execution"
    assert own["url"] == links.trace_url(own["trace_id"])
    assert {r["relation"] for r in results if r["trace_id"] != own["trace_id"]} == {"linked"}
    assert next(r for r in results if r["trace_id"] == node_run["named"][0])["services"] == ["node-worker"]
    # Fields it had before are unchanged.
    assert body["trace_id"] == node_run["execution"].trace_id
    assert body["shard_counts"] == {"total": 0, "by_status": {}}
    assert outsider_api.get(url).status_code == 404


def test_the_api_cuts_the_list_and_says_so(reader, node_run, monkeypatch):
    import traces.queries

    monkeypatch.setattr(traces.queries, "EXECUTION_TRACES", 2)
    linked = reader.get("/api/v1/jobs/payments/node-export/executions/run-8").json()["linked_traces"]
    assert (linked["total"], linked["truncated"], len(linked["results"])) == (6, True, 2)
    assert linked["results"][0]["trace_id"] == node_run["failing"]


@pytest.mark.usefixtures("own_queries_only")
def test_the_execution_page_lists_every_linked_trace(client, owner, node_run, django_assert_num_queries):
    client.force_login(owner)
    url = links.execution_url_of(node_run["execution"])
    # execution, status counts, its trace summary, the linked traces (counted in the same query); no shards, so
    # no page of them; the log panel's page (not a failed run: no error lines first)
    with django_assert_num_queries(AUTH + 5):
        response = client.get(url)
    body = response.content.decode()
    section = body[body.index('id="traces"') : body.index("</section>", body.index('id="traces"'))]
    listed = re.findall(r'class="trace-link" href="/traces/([0-9a-f]{32})/"', section)
    assert set(listed) == expected(node_run)
    assert listed[0] == node_run["failing"]
    assert 'Traces <span class="muted">(6)</span>' in section
    assert '<a href="#traces" id="traces-jump">6 traces</a> · <span class="bad">1 with errors</span>' in body
    assert node_run["unrelated"] not in body
    assert "the run&#x27;s trace id" in section or "the run's trace id" in section
    # A standalone run without shards shows no empty shard card with a filter.
    assert 'name="label"' not in body
    assert "Shards" not in body


def test_the_page_lists_five_then_the_rest_behind_a_disclosure_and_links_the_search_when_cut(
    client, owner, node_run, monkeypatch
):
    import traces.queries

    client.force_login(owner)
    url = links.execution_url_of(node_run["execution"])
    body = client.get(url).content.decode()
    section = body[body.index('id="traces"') : body.index("</section>", body.index('id="traces"'))]
    shown, hidden = section.split('<details class="more-traces">')
    assert len(re.findall(r'class="trace-link"', shown)) == 5
    assert len(re.findall(r'class="trace-link"', hidden)) == 1
    assert "1 more, failing ones first" in hidden
    assert 'id="traces-cut"' not in section
    monkeypatch.setattr(traces.queries, "EXECUTION_TRACES", 3)
    body = client.get(url).content.decode()
    assert 'id="traces-cut"' in body
    assert "3 of 6 traces are listed here" in body
    assert 'href="/traces/?job=payments%2Fnode-export&amp;execution=run-8">search all of them</a>' in body
    found = client.get("/traces/", {"job": "payments/node-export", "execution": "run-8"}).content.decode()
    assert len(re.findall(r'class="trace-link"', found)) >= 4  # the traces linking made the run the owner of
