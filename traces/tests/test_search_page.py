"""The trace search page: pickers from what is stored, case-insensitive service and operation, sortable columns,
pages past the first, durations with units, the duration-over-time scatter, the scheduler mark and filter, and
URLs without blank parameters."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from tests import factories, pages_support
from tests import factories_traces as ft
from tests.pages_support import AUTH
from traces.models import Trace

fast_passwords = pages_support.fast_passwords

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def trace(ns, *, service="svc", name="op", minutes_ago=10, duration_ms=10, error=False, attributes=None) -> str:
    tid = factories.trace_id()
    start = ft.ns_of(timezone.now() - timedelta(minutes=minutes_ago))
    ft.span(ns, tid, service=service, name=name, start_ns=start, duration_ms=duration_ms, error=error,
            attributes=attributes)  # fmt: skip
    ft.summarise(ns, tid)
    return tid


def rows(response) -> list[str]:
    return re.findall(r'<a class="trace-link" href="/traces/([0-9a-f]{32})/">', response.content.decode())


@pytest.fixture
def shop(ns, other_ns):
    """Five traces of two services, durations 100 ms .. 5 s; one failing; one the scheduler originated; and another
    team's trace of a service nobody here runs."""
    made = {
        "save": trace(ns, service="ServiceApplication", name="userInfoSave", minutes_ago=50, duration_ms=5000),
        "save-fast": trace(ns, service="ServiceApplication", name="userInfoSave", minutes_ago=40, duration_ms=300),
        "checkout": trace(ns, service="storefront", name="POST /orders", minutes_ago=30, duration_ms=100, error=True),
        "sync": trace(
            ns,
            service="inventory-service",
            name="POST /tasks/inventory-sync",
            minutes_ago=20,
            duration_ms=1200,
            attributes={"traffic.origin": "scheduler"},
        ),
        "stock": trace(
            ns,
            service="inventory-service",
            name="GET /stock",
            minutes_ago=10,
            duration_ms=900,
            attributes={"traffic.origin": "user"},
        ),
    }
    trace(other_ns, service="secret-billing", name="charge")
    return made


def test_the_pickers_offer_what_is_stored_in_the_callers_namespaces(owner_client, shop):
    body = owner_client.get("/traces/").content.decode()
    services = re.search(r'<datalist id="stored-services">(.*?)</datalist>', body).group(1)
    assert re.findall(r'value="([^"]+)"', services) == ["inventory-service", "ServiceApplication", "storefront"]
    operations = re.search(r'<datalist id="stored-operations">(.*?)</datalist>', body).group(1)
    assert 'value="userInfoSave">ServiceApplication<' in operations
    assert 'value="GET /stock"' in operations
    assert "secret-billing" not in body
    assert "charge" not in operations


def test_service_and_operation_match_whatever_their_case(owner_client, client, outsider, shop):
    assert set(rows(owner_client.get("/traces/", {"service": "serviceapplication"}))) == {
        shop["save"],
        shop["save-fast"],
    }
    assert set(rows(owner_client.get("/traces/", {"operation": "USERINFOSAVE"}))) == {shop["save"], shop["save-fast"]}
    client.force_login(outsider)
    assert rows(client.get("/traces/", {"service": "serviceapplication"})) == []


def test_results_sort_by_any_column_and_say_which(owner_client, shop):
    newest_first = rows(owner_client.get("/traces/"))
    assert newest_first == [shop[k] for k in ("stock", "sync", "checkout", "save-fast", "save")]
    longest = owner_client.get("/traces/", {"sort": "-duration"})
    assert rows(longest) == [shop[k] for k in ("save", "sync", "stock", "save-fast", "checkout")]
    assert rows(owner_client.get("/traces/", {"sort": "duration"}))[0] == shop["checkout"]
    assert rows(owner_client.get("/traces/", {"sort": "-errors"}))[0] == shop["checkout"]
    body = longest.content.decode()
    # The duration header says it sorts descending now and offers ascending; the others offer descending.
    assert re.search(r'href="/traces/\?sort=duration"[^>]*>Duration ▼</a>', body)
    assert 'href="/traces/?sort=-spans"' in body
    refused = owner_client.get("/traces/", {"sort": "colour"})
    assert refused.status_code == 400
    assert "sort by one of start, duration" in refused.content.decode()


def test_pages_reach_past_the_first_limit(owner_client, ns, shop):
    with override_settings(JOBTRACE_SEARCH_LIMIT=2):
        first = owner_client.get("/traces/", {"service": "inventory-service"})
        assert rows(first) == [shop["stock"], shop["sync"]]
        assert 'id="results-next"' not in first.content.decode()
        everything = owner_client.get("/traces/")
        assert len(rows(everything)) == 2
        body = everything.content.decode()
        assert 'id="results-cut"' in body
        [next_url] = re.findall(r'href="([^"]+)"[^>]*id="results-next"', body)
        assert next_url == "/traces/?page=2"
        second = owner_client.get(next_url)
        assert rows(second) == [shop["checkout"], shop["save-fast"]]
        third = owner_client.get("/traces/", {"page": 3})
        assert rows(third) == [shop["save"]]
        assert 'id="results-next"' not in third.content.decode()
        assert "traces 5\u20135" in third.content.decode()  # an en dash
        assert owner_client.get("/traces/", {"page": "0"}).status_code == 400


def test_durations_are_written_with_units(owner_client, api, shop):
    assert set(rows(owner_client.get("/traces/", {"min_duration": "1.1s"}))) == {shop["save"], shop["sync"]}
    assert set(rows(owner_client.get("/traces/", {"max_duration": "150ms"}))) == {shop["checkout"]}
    assert set(rows(owner_client.get("/traces/", {"min_duration": "900", "max_duration": "1s"}))) == {shop["stock"]}
    refused = owner_client.get("/traces/", {"min_duration": "fast"})
    assert refused.status_code == 400
    assert "1.5s, 200ms or 500us" in refused.content.decode()
    # The API takes them too, beside min_duration_ms.
    found = api.get("/api/v1/traces", {"min_duration": "2s"}).json()["results"]
    assert [t["trace_id"] for t in found] == [shop["save"]]


def test_the_scatter_draws_every_result_and_each_point_opens_its_trace(owner_client, shop):
    body = owner_client.get("/traces/").content.decode()
    svg = re.search(r'<svg class="trace-scatter".*?</svg>', body, re.S).group(0)
    points = re.findall(r'<a href="/traces/([0-9a-f]{32})/" class="point-link"><circle class="point([^"]*)"', svg)
    assert {p for p, _ in points} == set(shop.values())
    marks = dict(points)
    assert "failing" in marks[shop["checkout"]]
    assert "scheduler" in marks[shop["sync"]]
    # The longest run sits at the top of the plot, the y axis labelled up to it.
    point = r'href="/traces/([0-9a-f]{32})/" class="point-link"><circle[^>]* cy="([\d.]+)"'
    ys = {p: float(y) for p, y in re.findall(point, svg)}
    assert min(ys, key=ys.get) == shop["save"]
    assert ">5.00 s</text>" in svg
    assert 'style="' not in svg  # CSP: presentation attributes and classes only


def test_scheduler_traffic_is_marked_and_can_be_searched_for(owner_client, api, shop):
    body = owner_client.get("/traces/", {"service": "inventory-service"}).content.decode()
    marked = re.findall(r'href="/traces/([0-9a-f]{32})/">[^<]*</a>\s*<span class="tag origin-scheduler"', body)
    assert marked == [shop["sync"]]
    assert rows(owner_client.get("/traces/", {"origin": "scheduler"})) == [shop["sync"]]
    assert shop["sync"] not in rows(owner_client.get("/traces/", {"origin": "user"}))
    assert len(rows(owner_client.get("/traces/", {"origin": "user"}))) == 4
    found = api.get("/api/v1/traces", {"origin": "scheduler"}).json()["results"]
    assert [t["trace_id"] for t in found] == [shop["sync"]]


def test_a_trace_of_a_job_run_is_scheduler_traffic_and_the_mark_never_reads_a_whole_trace(owner_client, ns, shop):
    run = factories.execution(factories.job(ns, "inventory-sync"), "sync-1")
    owned = trace(ns, service="scheduler", name="run inventory-sync", minutes_ago=5)
    Trace.objects.filter(trace_id=owned).update(execution=run, job=run.job)
    assert set(rows(owner_client.get("/traces/", {"origin": "scheduler"}))) == {shop["sync"], owned}
    # Only the root span is looked at for the attribute: a mark deep inside a trace of no run does not count, so
    # a 50,000-span trace costs one probe like any other.
    deep = factories.trace_id()
    start = ft.ns_of(timezone.now() - timedelta(minutes=3))
    root = ft.span(ns, deep, service="gateway", name="GET /", start_ns=start)
    ft.span(ns, deep, parent=root.span_id, service="inventory-service", start_ns=start + 1,
            attributes={"traffic.origin": "scheduler"})  # fmt: skip
    ft.summarise(ns, deep)
    assert deep not in rows(owner_client.get("/traces/", {"origin": "scheduler"}))


def test_blank_parameters_are_dropped_from_the_url(owner_client, shop):
    response = owner_client.get("/traces/?job=&execution=&service=storefront&attr=&min_duration=")
    assert response.status_code == 302
    assert response["Location"] == "/traces/?service=storefront"
    assert owner_client.get("/traces/?job=").headers["Location"] == "/traces/"
    # Links the page builds carry no blanks either.
    body = owner_client.get("/traces/?service=storefront").content.decode()
    assert "=&amp;" not in body.split('<div id="results">')[1]


def test_the_search_page_costs_a_fixed_number_of_queries(owner_client, ns, shop, django_assert_num_queries):
    for i in range(30):
        trace(ns, service=f"svc-{i % 7}", name=f"op-{i}")
    with django_assert_num_queries(AUTH + 3):  # the results (scheduler mark included), services, operations
        owner_client.get("/traces/")
    with django_assert_num_queries(AUTH + 1):  # an htmx swap of the results only
        owner_client.get("/traces/", {"sort": "-duration"}, HTTP_HX_REQUEST="true")
