"""The drill-down in a real Chromium: overview → job → execution → failing shard → its call chain; expand and
collapse subtrees; paste an id into the lookup box. Screenshots of each page land in var/screenshots/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from console import links
from tests import factories
from tests import factories_traces as ft

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, live_server, plain_http_cookies, ns, owner):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.csp_errors = []
    page.on(
        "console",
        lambda msg: page.csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.goto(f"{live_server.url}/accounts/login/?next=/")
    page.fill("#id_username", "owner")
    page.fill("#id_password", "pw-Jobtrace-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    yield page
    context.close()


def test_from_the_overview_to_the_validation_error_of_account_1000002(page, live_server, ns, screenshots):
    scenario = ft.account_migration(ns)
    page.reload()
    page.screenshot(path=screenshots / "overview.png", full_page=True)

    page.click("a.job-link:has-text('account-migration')")
    page.wait_for_url(re.compile(r"/jobs/payments/account-migration/$"))
    page.screenshot(path=screenshots / "job.png", full_page=True)

    page.click(f"table.executions a:has-text('{scenario.execution.execution_id}')")
    page.wait_for_url(re.compile(r"/runs/[^/]+/$"))

    # The failing shard is listed first; find it by its account label as well.
    first = page.locator("table.shards tbody tr").first
    assert "account=1000002" in first.inner_text()
    page.fill("input[name=label]", "account=1000002")
    page.press("input[name=label]", "Enter")
    expect(page.locator("table.shards tbody tr")).to_have_count(1)
    assert "label=account" in page.url
    page.screenshot(path=screenshots / "execution.png", full_page=True)

    page.click("table.shards tbody tr a.mono")
    page.wait_for_url(re.compile(r"/shards/shard-2/$"))
    panel = page.locator("#span-panel")
    assert panel.is_visible()
    text = panel.inner_text()
    assert "FieldLengthValidationError" in text
    assert ft.VALIDATION_ERROR in text
    assert "validate account" in text
    page.screenshot(path=screenshots / "shard.png", full_page=True)
    assert page.url == f"{live_server.url}{links.shard_url_of(scenario.failing)}"

    # Collapse and expand a subtree of the call chain.
    call_row = page.locator(".wf-row", has_text="POST /v2/accounts")
    below = page.locator(".wf-row", has_text="INSERT audit_log")
    assert below.is_visible()
    call_row.locator(".wf-toggle").click()
    expect(below).to_be_hidden()
    call_row.locator(".wf-toggle").click()
    expect(below).to_be_visible()

    # Selecting another span shows its details in place.
    page.locator(".wf-row", has_text="SELECT accounts").locator("a.wf-name").click()
    expect(page.locator("#span-detail h3")).to_contain_text("SELECT accounts")
    assert "db.system" in page.locator("#span-detail").inner_text()

    page.click(f"a.mono:has-text('{scenario.trace_id}')")
    page.wait_for_url(re.compile(r"/traces/[0-9a-f]{32}/$"))
    assert "FieldLengthValidationError" in page.locator("#span-panel").inner_text()
    page.screenshot(path=screenshots / "trace.png", full_page=True)
    assert page.csp_errors == []


def test_a_big_trace_loads_a_collapsed_subtree_when_opened_and_collapses_it_again(page, live_server, ns, screenshots):
    tid, errors = ft.big_trace(ns, 1_500)
    ft.summarise(ns, tid)
    page.goto(f"{live_server.url}{links.trace_url(tid)}")
    shown = page.locator(".wf-row").count()
    assert shown < 300
    assert page.locator(f"#span-{errors[0]}").is_visible()
    collapsed = page.locator(".wf-row.collapsed[data-unloaded]").first
    span_id = collapsed.get_attribute("data-span")
    depth = int(collapsed.get_attribute("data-depth"))
    collapsed.locator(".wf-toggle").click()
    expect(page.locator(f"#span-{span_id}")).not_to_have_class(re.compile(r"\bcollapsed\b"))
    assert page.locator(".wf-row").count() > shown
    child = page.locator(f"#span-{span_id} + .wf-row")
    assert int(child.get_attribute("data-depth")) == depth + 1
    assert child.is_visible()
    page.screenshot(path=screenshots / "trace-big.png", full_page=False)
    page.locator(f"#span-{span_id} .wf-toggle").click()
    expect(child).to_be_hidden()
    assert page.csp_errors == []


def test_pasting_an_id_into_the_lookup_box_goes_to_its_page(page, live_server, ns, screenshots):
    job = factories.job(ns, "nightly-export")
    run = factories.execution(job, "run-20261122-0200", trace_id=factories.trace_id())
    factories.execution(factories.job(ns, "other"), "shared-id")
    factories.execution(factories.job(ns, "third"), "shared-id")
    page.goto(f"{live_server.url}/traces/")
    page.screenshot(path=screenshots / "trace-search.png", full_page=True)
    box = page.locator("#lookup-box")
    box.fill(run.execution_id)
    box.dispatch_event("paste")
    page.wait_for_url(f"{live_server.url}{links.execution_url_of(run)}")
    assert "run-20261122-0200" in page.locator("h1").inner_text()
    box = page.locator("#lookup-box")
    box.fill("shared-id")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q=shared-id"))
    expect(page.locator("table.list tbody tr")).to_have_count(2)
    page.screenshot(path=screenshots / "lookup.png", full_page=True)
    assert page.csp_errors == []
