"""Trace page, its fragments and download, and trace search."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from console import links
from tests import factories, pages_support
from tests import factories_traces as ft
from tests.pages_support import AUTH, text_of
from traces import linking
from traces.models import Span

fast_passwords = pages_support.fast_passwords
own_queries_only = pages_support.own_queries_only

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.mark.usefixtures("own_queries_only")
def test_the_trace_page_shows_the_waterfall_the_owner_and_the_failing_span(owner_client, ns, django_assert_num_queries):
    scenario = ft.account_migration(ns)
    linking.link_traces(ns.pk, [scenario.trace_id])  # what span ingest runs: the spans join the failing shard
    # summary with owners, waterfall columns, the shown shard rows' business labels, selected span (and its logs),
    # links here
    with django_assert_num_queries(AUTH + 6):
        response = owner_client.get(links.trace_url(scenario.trace_id))
    assert response.status_code == 200
    body = text_of(response)
    assert body.count('class="wf-row') == 6
    # The shard's row says which shard and which account (its business label), the labels in full in its title.
    root = re.search(r'<div class="wf-row[^"]*" id="span-[0-9a-f]+" data-span="[0-9a-f]+" data-depth="0".*?</svg>',
                     body)  # fmt: skip
    assert root is not None
    assert f"shard {scenario.failing.shard_id}</span>" in root.group(0)
    business = '<span class="wf-tell wf-business" title="account=1000002, region=eu">account 1000002</span>'
    assert business in root.group(0)
    assert links.shard_url_of(scenario.failing) in body
    assert links.execution_url_of(scenario.execution) in body
    assert "FieldLengthValidationError" in body
    assert "Critical path" in body
    assert "Self time by service" in body
    assert f"{links.trace_url(scenario.trace_id)}otlp.json" in body
    call = Span.objects.get(trace_id=scenario.trace_id, name="POST /v2/accounts")
    body = owner_client.get(links.trace_url(scenario.trace_id, call.span_id)).content.decode()
    assert 'href="https://accounts.internal/v2/accounts"' in body  # an http(s) attribute is a link


def test_a_big_trace_opens_collapsed_to_errors_and_the_critical_path(owner_client, ns):
    tid, errors = ft.big_trace(ns, 3_000)  # bench/pages.py measures 10,000 and 50,000
    ft.summarise(ns, tid)
    response = owner_client.get(links.trace_url(tid))
    body = response.content.decode()
    shown = body.count('class="wf-row')
    assert 10 < shown < 500
    for span_id in errors:
        assert f'id="span-{span_id}"' in body
    assert len(body) < 150_000
    assert "Showing" in body
    # Opening a collapsed row fetches its subtree's rows.
    collapsed = re.search(r'data-span="([0-9a-f]{16})" data-depth="1" data-unloaded="(\d+)"', body)
    assert collapsed
    fragment = owner_client.get(f"{links.trace_url(tid)}rows/{collapsed.group(1)}/").content.decode()
    assert fragment.count('class="wf-row') > 1
    assert f'id="span-{collapsed.group(1)}"' in fragment
    assert "<html" not in fragment


def test_a_span_fragment_shows_attributes_events_and_links_into_other_traces(owner_client, ns):
    other = factories.trace_id()
    tid = factories.trace_id()
    producer = ft.span(ns, other, name="publish order.created", service="shop")
    consumer = ft.span(
        ns,
        tid,
        name="consume order.created",
        service="worker",
        attributes={"messaging.system": "kafka"},
        events=[{"time_ns": 1, "name": "retry", "attributes": {"attempt": 2}}],
        links=[{"trace_id": other, "span_id": producer.span_id, "attributes": {"reason": "caused by"}}],
    )
    ft.link(ns, consumer, other, producer.span_id)
    body = owner_client.get(f"{links.trace_url(tid)}spans/{consumer.span_id}/").content.decode()
    assert "messaging.system" in body
    assert "retry" in body
    assert f'href="{links.trace_url(other, producer.span_id)}"' in body
    # ...and the other trace lists the span that links to it.
    body = owner_client.get(links.trace_url(other)).content.decode()
    assert f'href="{links.trace_url(tid, consumer.span_id)}"' in body


def test_the_download_is_otlp_json_that_round_trips_the_spans(owner_client, ns):
    scenario = ft.account_migration(ns)
    response = owner_client.get(f"{links.trace_url(scenario.trace_id)}otlp.json")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    doc = json.loads(response.content)
    spans = [s for rs in doc["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert len(spans) == 6
    bad = next(s for s in spans if s["name"] == "validate account")
    assert bad["status"] == {"code": 2, "message": ft.VALIDATION_ERROR}
    assert bad["events"][0]["attributes"][0]["key"].startswith("exception.")
    assert {"key": "validation.max_length", "value": {"intValue": "64"}} in bad["attributes"]


def test_a_trace_an_execution_names_but_whose_spans_never_arrived_shows_the_gap(owner_client, ns):
    run = factories.execution(factories.job(ns), trace_id=factories.trace_id(), sampled=True)
    response = owner_client.get(links.trace_url(run.trace_id))
    assert response.status_code == 404
    assert "propagation gap" in response.content.decode()
    assert links.execution_url_of(run) in response.content.decode()


def _search_rows(response) -> list[str]:
    return re.findall(r'<a class="trace-link" href="/traces/([0-9a-f]{32})/">', response.content.decode())


def test_trace_search_by_job_execution_shard_service_and_status(owner_client, ns, django_assert_num_queries):
    scenario = ft.account_migration(ns)
    other = factories.trace_id()
    ft.span(ns, other, name="GET /health", service="frontend", attributes={"http.response.status_code": 200})
    ft.summarise(ns, other)
    with django_assert_num_queries(AUTH + 3):  # the results, the services and the operations the pickers offer
        response = owner_client.get("/traces/", {"job": f"{ns.name}/account-migration"})
    assert _search_rows(response) == [scenario.trace_id]
    assert links.shard_url_of(scenario.failing) in response.content.decode()
    assert _search_rows(owner_client.get("/traces/", {"job": "account-migration"})) == [scenario.trace_id]
    assert _search_rows(owner_client.get("/traces/", {"execution": scenario.execution.execution_id})) == [
        scenario.trace_id
    ]
    assert _search_rows(owner_client.get("/traces/", {"shard": scenario.failing.shard_id})) == [scenario.trace_id]
    assert _search_rows(owner_client.get("/traces/", {"service": "frontend"})) == [other]
    assert _search_rows(owner_client.get("/traces/", {"status": "error"})) == [scenario.trace_id]
    assert _search_rows(owner_client.get("/traces/", {"operation": "validate account"})) == [scenario.trace_id]
    assert _search_rows(owner_client.get("/traces/", {"attr": "http.response.status_code=200"})) == [other]
    assert _search_rows(owner_client.get("/traces/", {"min_duration_ms": 500})) == [scenario.trace_id]
    assert _search_rows(owner_client.get("/traces/", {"max_duration_ms": 500})) == [other]
    soon = (timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert _search_rows(owner_client.get("/traces/", {"since": soon})) == []
    assert owner_client.get("/traces/", {"attr": "no-equals-sign"}).status_code == 400


def test_trace_search_says_plainly_when_results_were_cut(owner_client, ns):
    for _ in range(4):
        tid = factories.trace_id()
        ft.span(ns, tid)
        ft.summarise(ns, tid)
    with override_settings(JOBTRACE_SEARCH_LIMIT=3):
        response = owner_client.get("/traces/")
    assert len(_search_rows(response)) == 3
    assert 'id="results-cut"' in response.content.decode()


def test_a_subtree_opened_under_a_find_marks_its_matches(owner_client, ns):
    from traces.tests.test_find import _big_migration

    tid = _big_migration(ns)  # 600 accounts under one root; a find by operation opens the first 500 matches
    url = links.trace_url(tid)
    body = owner_client.get(url, {"svc": "migrator", "op": "migrate account {id}"}).content.decode()
    assert 'data-find="svc=migrator&amp;op=migrate+account+%7Bid%7D"' in body  # what the page fetches subtrees with
    root = f"{1:016x}"
    assert re.search(rf'id="span-{root}" data-span="{root}" data-depth="0" data-unloaded="\d+"', body)
    fragment = owner_client.get(f"{url}rows/{root}/", {"svc": "migrator", "op": "migrate account {id}"})
    rows = re.findall(r'<div class="(wf-row[^"]*)" id="span-', fragment.content.decode())
    assert len(rows) == 601
    assert sum(1 for c in rows if " match" in c) == 600  # every account, the root (another operation) not
    plain = owner_client.get(f"{url}rows/{root}/").content.decode()
    assert " match" not in plain


def test_a_big_trace_kept_for_its_subtrees_is_built_afresh_when_spans_arrive(owner_client, ns, monkeypatch):
    from traces import recent

    monkeypatch.setattr(recent, "MIN_SPANS", 100)
    recent.clear()
    tid, _ = ft.big_trace(ns, 600)
    ft.summarise(ns, tid)
    url = links.trace_url(tid)
    body = owner_client.get(url).content.decode()
    collapsed = re.search(r'data-span="([0-9a-f]{16})" data-depth="1" data-unloaded="(\d+)"', body)
    assert collapsed
    kept = len(recent._kept)
    assert kept == 1
    before = owner_client.get(f"{url}rows/{collapsed.group(1)}/").content.decode()
    late = ft.span(ns, tid, parent=collapsed.group(1), name="late arrival", service="late-svc", start_ns=1)
    ft.summarise(ns, tid)  # what span ingest does: the summary counts the new span
    after = owner_client.get(f"{url}rows/{collapsed.group(1)}/").content.decode()
    assert f'id="span-{late.span_id}"' not in before
    assert f'id="span-{late.span_id}"' in after
    assert "late arrival" in owner_client.get(url, {"span": late.span_id}).content.decode()
    recent.clear()
