"""What a responder walking the incidents touches, in a real Chromium under the console's CSP: the execution page at
800 px wide (nothing clipped, its linked traces listed), the job page's chart axis and where its settings sit, the
trace search (pickers, sorting, the scatter, URLs without blank parameters, the scheduler filter), a traceparent
pasted into the lookup box, the overview's "failing now" badge, and the favicon. Screenshots in var/screenshots/."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from console import links
from jobs.choices import RunStatus
from tests import factories
from tests import factories_traces as ft

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def signed_in(browser, live_server, width: int = 1400):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.problems = []
    page.on("console", lambda msg: page.problems.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{live_server.url}/accounts/login/?next=/")
    page.fill("#id_username", "owner")
    page.fill("#id_password", "pw-Jobtrace-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return context, page


@pytest.fixture
def wide(browser, live_server, plain_http_cookies, ns, owner):
    context, page = signed_in(browser, live_server)
    yield page
    context.close()


@pytest.fixture
def narrow(browser, live_server, plain_http_cookies, ns, owner):
    context, page = signed_in(browser, live_server, width=800)
    yield page
    context.close()


def overflow(page) -> int:
    """How far the page is wider than its window (0: nothing is clipped or needs a horizontal scroll)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


DEMO_ERROR = (
    "RemoteCallError: account-service answered 422 for account 1000002: FieldLengthValidationError: field "
    "'display_name' is 72 characters long; column accounts.display_name allows at most 64 (account 1000002)"
)


def migration_like_the_demo(ns):
    """The demo's failing account migration as the execution page shows it: a trace per shard, two labels each,
    the demo's worker names and error text."""
    job = factories.job(ns, "account-migration", kind="sharded")
    started = timezone.now() - timedelta(hours=2)
    run = factories.execution(job, "account-migration-20261201", status=RunStatus.FAILED, trace_id=factories.trace_id(),
                              started_at=started, finished_at=started + timedelta(seconds=2), sampled=True,
                              worker="migration-worker-1", error="1 of 24 shards failed, first: shard acct-1000002: "
                              + DEMO_ERROR)  # fmt: skip
    for i in range(24):
        account = 1_000_000 + i
        tid = factories.trace_id()
        failing = account == 1_000_002
        shard = factories.shard(
            run,
            f"acct-{account}",
            index=i,
            labels={"account": str(account), "region": ("eu-west", "eu-central")[i % 2]},
            worker="migration-worker-1",
            status=RunStatus.FAILED if failing else RunStatus.SUCCEEDED,
            trace_id=tid,
            error=DEMO_ERROR if failing else "",
            started_at=started,
            duration_ms=40 + i,
        )
        ft.span(ns, tid, service="migration-worker", name="migrate account", error=failing)
        ft.summarise(ns, tid, execution=run, shard=shard)
    return run


def test_the_execution_page_fits_800_pixels_and_lists_its_traces(narrow, live_server, ns, screenshots):
    run = migration_like_the_demo(ns)
    narrow.goto(f"{live_server.url}{links.execution_url_of(run)}")
    assert overflow(narrow) == 0
    assert narrow.evaluate("document.documentElement.scrollWidth") == 800
    chain = narrow.locator("table.shards tbody tr").first.get_by_role("link", name="call chain")
    box = chain.bounding_box()
    assert box["x"] + box["width"] <= 800  # the call-chain column is on screen, not clipped
    traces = narrow.locator("table.linked-traces tbody tr")
    expect(traces).to_have_count(24)
    assert "shard acct-1000002" in traces.first.inner_text()  # the failing shard's trace first
    narrow.screenshot(path=screenshots / "execution-800.png", full_page=True)
    assert narrow.problems == []


def test_the_job_page_chart_has_its_axis_and_the_settings_sit_below_the_runs(wide, live_server, ns, screenshots):
    job = factories.job(ns, "nightly-export")
    now = timezone.now()
    for i in range(12):
        start = now - timedelta(days=12 - i)
        seconds = 17.6 if i >= 10 else 4.2
        factories.execution(job, f"run-{i}", started_at=start, finished_at=start + timedelta(seconds=seconds),
                            status=RunStatus.FAILED if i == 4 else RunStatus.SUCCEEDED)  # fmt: skip
    wide.goto(f"{live_server.url}{links.job_url(ns.name, job.name)}")
    ticks = wide.locator(".y-axis .y-tick")
    expect(ticks).to_have_text(["17.6 s", "8.8 s", "0 ms"])
    chart = wide.locator("svg.duration-chart").bounding_box()
    top, bottom = ticks.first.bounding_box(), ticks.last.bounding_box()
    assert abs(top["y"] - chart["y"]) < 12  # the top label sits at the top of the bars
    assert abs(bottom["y"] + bottom["height"] - (chart["y"] + chart["height"])) < 12
    assert wide.locator("ul.chart-legend li").count() == 3
    runs = wide.locator("h2", has_text="Executions").bounding_box()
    sampling = wide.locator("#sampling").bounding_box()
    assert sampling["y"] > runs["y"]
    wide.screenshot(path=screenshots / "job-chart.png", full_page=True)
    assert wide.problems == []


def test_trace_search_sorts_pages_draws_the_scatter_and_keeps_urls_clean(wide, live_server, ns, screenshots):
    made = []
    for i, (service, ms) in enumerate([("ServiceApplication", 5000), ("storefront", 120), ("inventory-service", 900)]):
        tid = factories.trace_id()
        attrs = {"traffic.origin": "scheduler"} if service == "inventory-service" else {}
        start = ft.ns_of(timezone.now() - timedelta(minutes=30 - i))
        ft.span(ns, tid, service=service, name=f"op {i}", duration_ms=ms, start_ns=start, attributes=attrs)
        ft.summarise(ns, tid)
        made.append(tid)
    wide.goto(f"{live_server.url}/traces/")
    options = wide.locator("#stored-services option")
    assert [options.nth(i).get_attribute("value") for i in range(options.count())] == [
        "inventory-service",
        "ServiceApplication",
        "storefront",
    ]
    # Searching sends only the filled fields: the URL has no `job=&execution=`.
    wide.fill("input[name=service]", "serviceapplication")
    wide.click("button:has-text('Search')")
    wide.wait_for_url(re.compile(r"/traces/\?service=serviceapplication$"))
    expect(wide.locator("a.trace-link")).to_have_count(1)
    wide.fill("input[name=service]", "")
    wide.select_option("select[name=origin]", "scheduler")
    wide.click("button:has-text('Search')")
    wide.wait_for_url(re.compile(r"/traces/\?origin=scheduler$"))
    expect(wide.locator("a.trace-link")).to_have_count(1)
    expect(wide.locator("table.traces .tag.origin-scheduler")).to_have_count(1)
    wide.select_option("select[name=origin]", "")
    wide.click("button:has-text('Search')")
    wide.wait_for_url(re.compile(r"/traces/$"))
    # Sort by duration, longest first, from the column header.
    wide.click("a.sort-link[data-sort='-duration']")
    wide.wait_for_url(re.compile(r"sort=-duration"))
    first = wide.locator("table.traces tbody tr").first
    expect(first).to_contain_text("ServiceApplication")
    # The scatter: a point per result; a click opens its trace.
    expect(wide.locator("svg.trace-scatter circle.point")).to_have_count(3)
    wide.screenshot(path=screenshots / "trace-search-sorted.png", full_page=True)
    wide.locator(f"svg.trace-scatter a[href='/traces/{made[1]}/']").click()
    wide.wait_for_url(re.compile(rf"/traces/{made[1]}/$"))
    assert wide.problems == []


def test_a_pasted_traceparent_opens_the_trace_at_its_span(wide, live_server, ns, screenshots):
    scenario = ft.account_migration(ns)
    span = scenario.failing_span
    box = wide.locator("#lookup-box")
    box.fill(f"00-{scenario.trace_id}-{span.span_id}-01")
    box.dispatch_event("paste")
    wide.wait_for_url(re.compile(rf"/traces/{scenario.trace_id}/\?span={span.span_id}$"))
    expect(wide.locator("#span-panel")).to_contain_text("validate account")
    box = wide.locator("#lookup-box")
    box.fill(scenario.trace_id[:10])
    box.press("Enter")
    wide.wait_for_url(re.compile(rf"/traces/{scenario.trace_id}/$"))
    assert wide.problems == []


def test_the_failing_now_badge_filters_the_overview_and_every_page_has_a_favicon(wide, live_server, ns, screenshots):
    factories.execution(factories.job(ns, "settlement"), status=RunStatus.FAILED)
    factories.execution(factories.job(ns, "healthy"), status=RunStatus.SUCCEEDED)
    wide.goto(f"{live_server.url}/")
    wide.click("#failing-now")
    wide.wait_for_url(re.compile(r"/\?status=failing$"))
    expect(wide.locator("a.job-link")).to_have_text(["settlement"])
    icon = wide.locator("link[rel=icon]").get_attribute("href")
    assert wide.request.get(f"{live_server.url}{icon}").status == 200
    assert wide.request.get(f"{live_server.url}/favicon.ico").status == 200
    assert wide.locator("nav.main-nav a", has_text="API").get_attribute("href") == "/api/v1/docs"
    assert wide.problems == []
    # The schema opened in the browser is shown (a download would fail the navigation).
    response = wide.goto(f"{live_server.url}/api/v1/schema")
    assert response.headers["content-type"].startswith("text/yaml")
    assert wide.locator("body").inner_text().startswith("openapi: 3")


def test_from_a_consumer_run_to_its_workflow_to_the_origin_request_and_forward_to_its_consumer(wide, live_server, ns):
    """Message ids are links; the origin request's trace names its workflow and the run that consumed its message."""
    from jobs.choices import Trigger
    from tests import factories_causality as fc

    request_trace = factories.trace_id()
    fc.span(ns, request_trace, name="POST /orders", service="storefront", kind=fc.PRODUCER, message_id="msg-9218",
            correlation_id="req-71bd")  # fmt: skip
    ft.summarise(ns, request_trace)
    fc.message(ns, "msg-9218", correlation_id="req-71bd", causation_id="req-71bd", trace_id=request_trace,
               event_type="order.created", published_at=timezone.now() - timedelta(minutes=5))  # fmt: skip
    run = factories.execution(factories.job(ns, "order-fulfilment"), "fulfil-1", trigger=Trigger.EVENT,
                              message_id="msg-9218", correlation_id="req-71bd", causation_id="req-71bd",
                              started_at=timezone.now() - timedelta(minutes=4))  # fmt: skip
    wide.goto(f"{live_server.url}{links.execution_url_of(run)}")
    wide.click("a.message-link:has-text('msg-9218')")
    wide.wait_for_url(re.compile(r"/correlations/req-71bd/$"))
    wide.goto(f"{live_server.url}{links.trace_url(request_trace)}")
    panel = wide.locator("#trace-causality")
    expect(panel.locator("a.correlation-link")).to_have_text("req-71bd")
    panel.locator("a.consumer-link", has_text="order-fulfilment #fulfil-1").click()
    wide.wait_for_url(re.compile(r"/runs/fulfil-1/$"))
    # A standalone run without shards shows no empty shard card and no filter.
    expect(wide.locator("input[name=label]")).to_have_count(0)
    expect(wide.locator("h2", has_text="Shards")).to_have_count(0)
    assert wide.problems == []
