"""The trace page's details a responder reads: an unknown `?span=`, scheduler-originated rows, message ids and span
links as links, and the spans of other traces that link here (counted, cut visibly, failing first, named)."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from console import links
from jobs.choices import RunStatus
from tests import factories, pages_support
from tests import factories_traces as ft
from tests.pages_support import AUTH, text_of

fast_passwords = pages_support.fast_passwords
own_queries_only = pages_support.own_queries_only

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def test_an_unknown_span_id_says_it_was_not_found_instead_of_silently_showing_another(owner_client, ns):
    scenario = ft.account_migration(ns)
    body = text_of(owner_client.get(links.trace_url(scenario.trace_id, "00000000deadbeef")))
    assert 'id="span-not-found"' in body
    assert "00000000deadbeef" in body
    assert "was not found in this trace; showing the failing span instead" in body
    assert f'data-span="{scenario.failing_span.span_id}"' in body  # the panel still shows the failing span
    known = text_of(owner_client.get(links.trace_url(scenario.trace_id, scenario.failing_span.span_id)))
    assert "span-not-found" not in known


def test_rows_of_scheduler_originated_calls_are_marked_on_the_waterfall(owner_client, ns):
    tid = factories.trace_id()
    marked = {"traffic.origin": "scheduler"}
    root = ft.span(ns, tid, name="POST /tasks/reindex", service="search-api", attributes=marked)
    ft.span(ns, tid, parent=root.span_id, name="reindex", service="search-api", attributes={"traffic.origin": "user"})
    ft.summarise(ns, tid)
    body = owner_client.get(links.trace_url(tid)).content.decode()
    rows = re.findall(r'<div class="wf-row[^"]*" id="span-([0-9a-f]+)".*?</div><svg', body)
    assert len(rows) == 2
    marked = re.findall(r'id="span-([0-9a-f]+)"[^>]*><div class="wf-label">(?:(?!</div>).)*origin-scheduler', body)
    assert marked == [root.span_id]


def test_message_ids_in_the_span_detail_link_to_the_message_workflow(owner_client, ns):
    tid = factories.trace_id()
    attrs = {"messaging.message.id": "msg_9218", "messaging.message.conversation_id": "req_71bd",
             "causation_id": "msg_9134"}  # fmt: skip
    consumer = ft.span(ns, tid, name="process order.created", service="worker", attributes=attrs)
    lone = ft.span(ns, tid, name="publish", service="shop", attributes={"message_id": "msg_7"})
    body = owner_client.get(f"{links.trace_url(tid)}spans/{consumer.span_id}/").content.decode()
    assert f'<a class="message-link" href="{links.correlation_url("req_71bd")}">msg_9218</a>' in body
    assert f'<a class="message-link" href="{links.correlation_url("req_71bd")}">msg_9134</a>' in body
    assert f'<a class="message-link" href="{links.correlation_url("req_71bd")}">req_71bd</a>' in body
    body = owner_client.get(f"{links.trace_url(tid)}spans/{lone.span_id}/").content.decode()
    assert f'<a class="message-link" href="{links.lookup_url("msg_7")}">msg_7</a>' in body


def _shard_traces_linking_to(ns, scenario, count: int, failing_at: int) -> None:
    """Trace per shard: each shard's own trace, whose root links to the execution's trace; one of them fails."""
    target = ft.span(ns, scenario.execution.trace_id, name="run account-migration", service="mr-master")
    ft.summarise(ns, scenario.execution.trace_id, execution=scenario.execution)
    for i, shard in enumerate(scenario.shards[:count]):
        tid = f"{0xF0000000 + i:032x}"  # sorted by hex, the failing one would come last
        shard.trace_id = tid
        shard.status = RunStatus.FAILED if i == failing_at else RunStatus.SUCCEEDED
        shard.save(update_fields=["trace_id", "status"])
        root = ft.span(ns, tid, name=f"migrate account {shard.labels['account']}", service="account-migrator",
                       error=i == failing_at)  # fmt: skip
        ft.link(ns, root, scenario.execution.trace_id, target.span_id)
        ft.summarise(ns, tid, execution=scenario.execution, shard=shard)


@pytest.mark.usefixtures("own_queries_only")
def test_spans_that_link_here_are_counted_cut_visibly_failing_first_and_named(
    owner_client, ns, django_assert_num_queries
):
    scenario = ft.account_migration(ns, shard_count=60)
    _shard_traces_linking_to(ns, scenario, 60, failing_at=59)
    url = links.trace_url(scenario.execution.trace_id)
    # summary, waterfall, selected span and its logs, links here (ordered, counted), their spans, their traces' shards
    with django_assert_num_queries(AUTH + 7):
        response = owner_client.get(url)
    body = text_of(response)
    section = body[body.index('id="linked-here"') :]
    assert 'Spans that link here <span class="count">(60)</span>' in section
    assert "Showing 50 of 60, failing first (1 failing)." in section
    items = re.findall(r'<li class="linking( err)?">(.*?)</li>', section)
    assert len(items) == 50
    first_failing, first = items[0]
    failing_shard = scenario.shards[59]
    assert first_failing == " err"
    assert f'href="{links.shard_url_of(failing_shard)}">shard {failing_shard.shard_id}</a>' in first
    assert f'<span class="label">account {failing_shard.labels["account"]}</span>' in first
    assert f'href="{links.trace_url(failing_shard.trace_id, _root_of(failing_shard.trace_id))}"' in first
    assert f"account-migrator</span>: migrate account {failing_shard.labels['account']}" in first
    assert not any(flag for flag, _ in items[1:])


@pytest.mark.usefixtures("own_queries_only")
def test_the_linked_here_query_count_does_not_grow_with_the_links(owner_client, ns, django_assert_num_queries):
    scenario = ft.account_migration(ns, shard_count=5)
    _shard_traces_linking_to(ns, scenario, 5, failing_at=2)
    with django_assert_num_queries(AUTH + 7):  # as with 60 links above
        body = text_of(owner_client.get(links.trace_url(scenario.execution.trace_id)))
    assert "(5)" in body
    assert "linked-here-cut" not in body


def _root_of(trace_id: str) -> str:
    from traces.models import Span

    return Span.objects.get(trace_id=trace_id, parent_span_id="").span_id


def test_the_critical_path_card_sums_it_up_in_one_line_and_lists_only_spans_with_own_time_on_it(owner_client, ns):
    tid = factories.trace_id()
    t0 = ft.ns_of(timezone.now())
    root = ft.span(ns, tid, name="nightly-export", service="export-worker", start_ns=t0, duration_ms=1000)
    for i in range(2):
        call = ft.span(ns, tid, parent=root.span_id, name=f"POST /users/{1000 + i}", service="export-worker",
                       start_ns=t0 + i * 500 * ft.MS, duration_ms=500)  # fmt: skip
        ft.span(ns, tid, parent=call.span_id, name="userInfoSave", service="ServiceApplication",
                start_ns=t0 + i * 500 * ft.MS, duration_ms=500)  # fmt: skip
    ft.summarise(ns, tid)
    body = text_of(owner_client.get(links.trace_url(tid)))
    card = body[body.index('id="critical-path"') : body.index("Slowest spans")]
    assert "through 5 spans; 2 with time of their own on it" in card
    assert "<strong>ServiceApplication: userInfoSave</strong> 1.00 s (100%, 2 spans)" in card
    assert card.count("<li>") == 2


def test_the_scheduler_tag_says_where_scheduler_traffic_enters_and_marks_every_row_below(owner_client, ns):
    tid = factories.trace_id()
    marked = {"traffic.origin": "scheduler"}
    root = ft.span(ns, tid, name="POST /tasks/sync", service="inventory", attributes=marked)
    child = ft.span(ns, tid, parent=root.span_id, name="GET /stock", service="inventory", attributes=marked)
    ft.summarise(ns, tid)
    body = owner_client.get(links.trace_url(tid)).content.decode()
    assert re.search(rf'class="wf-row [^"]*\bsched\b[^"]*" id="span-{child.span_id}"', body)
    assert body.count('class="tag origin-scheduler"') == 1  # on the row where it enters only
