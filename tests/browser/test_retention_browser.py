"""The namespace's admin changes its retention on the job page in a real Chromium (under the console's CSP): the
form shows the defaults, a bad figure is refused and said, a good one saved and shown; then `manage.py prune`
expires an old trace and its page says so. Screenshots in var/screenshots/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from console import links
from jobs.retention.prune import run
from tests import factories
from tests.browser.test_responder_browser import signed_in
from traces.ingest import parse_document
from traces.store import store_spans
from traces.tests.builders import otlp_doc, otlp_span, sid, tid

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, live_server, plain_http_cookies, ns, owner):
    context, page = signed_in(browser, live_server)
    yield page
    context.close()


def test_the_admin_changes_the_retention_and_an_expired_trace_says_so(page, live_server, ns, screenshots):
    job = factories.job(ns, "nightly-export")
    page.goto(f"{live_server.url}{links.job_url(ns.name, job.name)}")
    section = page.locator("#retention")
    expect(section).to_contain_text("keeps spans and logs 7 days")
    expect(section).to_contain_text("90 days")
    page.fill("#retention-span-input", "40")
    page.fill("#retention-record-input", "30")
    page.click("#retention button[type=submit]")
    expect(page.locator(".retention-outcome")).to_contain_text("no longer than records")
    page.fill("#retention-span-input", "3")
    page.fill("#retention-record-input", "30")
    page.click("#retention button[type=submit]")
    expect(page.locator(".retention-outcome")).to_contain_text("Saved.")
    expect(section).to_contain_text("keeps spans and logs 3 days")
    page.screenshot(path=str(screenshots / "retention-job-page.png"), full_page=True)

    trace_id = tid()
    day = datetime.now(UTC).date() - timedelta(days=5)
    start = int(datetime(day.year, day.month, day.day, 9, tzinfo=UTC).timestamp()) * 1_000_000_000
    span = otlp_span(trace_id, sid(), name="export")
    span["startTimeUnixNano"], span["endTimeUnixNano"] = str(start), str(start + 1_000_000)
    store_spans(ns, parse_document(otlp_doc(("exporter", [span]))).spans)
    run()
    page.goto(f"{live_server.url}{links.trace_url(trace_id)}")
    expect(page.locator(".trace-expired")).to_contain_text("expired by the retention of 3 days")
    # The page is answered 410 Gone (the trace existed; its spans are gone), which Chromium logs; nothing else.
    assert [p for p in page.problems if "status of 410" not in p] == []
    page.screenshot(path=str(screenshots / "retention-expired-trace.png"), full_page=True)
