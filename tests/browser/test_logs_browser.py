"""Logs in a real Chromium: the failing shard's page shows its error lines first and filters its log by severity
and text without a reload; the /logs/ search page filters, pages on, and keeps hostile text inert. Screenshots in
var/screenshots/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests import factories
from traces.logs.ingest import parse_logs
from traces.logs.store import store_logs
from traces.logs.tests.builders import line, request
from traces.tests.builders import sid, tid

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
T0 = 1_764_000_000_000_000_000


@pytest.fixture
def page(browser, live_server, plain_http_cookies, ns, owner):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.errors = []
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.on("dialog", lambda dialog: page.errors.append(f"dialog: {dialog.message}"))
    page.goto(f"{live_server.url}/accounts/login/?next=/")
    page.fill("#id_username", "owner")
    page.fill("#id_password", "pw-Jobtrace-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    yield page
    context.close()


@pytest.fixture
def failed_shard(ns):
    t, a = tid(), sid()
    run = factories.execution(factories.job(ns, "account-migration"), "run-7", status="failed", trace_id=t)
    factories.shard(run, "shard-2", status="failed", trace_id=t)
    lines = [line(f"copied batch {i}", T0 + i * 1_000_000, 9, trace_id=t, span_id=a) for i in range(150)]
    lines.append(line("field too long: account_name", T0 + 150_000_000, 17, trace_id=t, span_id=a))
    lines.append(line("<img src=x onerror=alert(1)>", T0 + 151_000_000, 13, trace_id=t, span_id=a))
    records = parse_logs(request(lines, service="migrator"), json_body=False).records
    store_logs(ns, records)
    return run


def test_the_failing_shards_page_shows_its_last_error_first_and_filters_its_log(
    page, live_server, failed_shard, screenshots
):
    page.goto(f"{live_server.url}/jobs/{failed_shard.namespace.name}/account-migration/runs/run-7/shards/shard-2/")
    panel = page.locator("#logs-shard")
    expect(panel).to_be_visible()
    first_error = panel.locator("ol.log-errors li").first
    expect(first_error).to_contain_text("field too long: account_name")
    expect(panel.locator(".log-line", has_text="<img src=x onerror=alert(1)>")).to_have_count(1)  # shown as text
    page.screenshot(path=screenshots / "shard-logs.png", full_page=True)

    panel.locator("select[name=severity]").select_option("error")
    rows = page.locator("#logs-shard-rows")
    expect(rows.locator("ol:not(.log-errors) .log-line")).to_have_count(1)
    expect(rows).not_to_contain_text("copied batch 3")

    panel.locator("select[name=severity]").select_option("")
    panel.locator("input[name=q]").fill("BATCH 14")
    panel.locator("input[name=q]").press("Enter")
    expect(rows.locator("ol:not(.log-errors) .log-line")).to_have_count(11)  # 14 and 140-149
    assert page.errors == []


def test_the_log_search_page_filters_and_pages_on(page, live_server, ns, failed_shard, screenshots):
    page.goto(f"{live_server.url}/logs/")
    page.fill("input[name=job]", f"{ns.name}/account-migration")
    page.locator("select[name=order]").select_option("oldest")
    page.wait_for_url(re.compile(r"order=oldest"))
    lines = page.locator("#log-rows ol.log-lines > li")
    expect(lines).to_have_count(100)
    expect(lines.first).to_contain_text("copied batch 0")
    expect(page.locator(".log-more")).to_contain_text("the list was cut at 100")
    page.click("a.log-next")
    expect(page.locator("#log-rows ol.log-lines > li")).to_have_count(152)
    expect(page.locator("#log-rows")).to_contain_text("field too long")
    page.screenshot(path=screenshots / "log-search.png", full_page=True)

    page.fill("form.log-filters input[name=q]", "account_name")
    page.press("form.log-filters input[name=q]", "Enter")
    page.wait_for_url(re.compile(r"q=account_name"))
    expect(page.locator("#log-rows ol.log-lines > li")).to_have_count(1)
    expect(page.locator("#log-rows .log-owner")).to_contain_text("shard shard-2")
    assert page.errors == []
