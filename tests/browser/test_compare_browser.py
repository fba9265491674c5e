"""Comparing runs as a responder does, in Chromium under the console's CSP: from the job page, the slow run, then
"compare with the previous successful run" ends on the operation that got slower (two clicks), and its row opens
the slow run's span; the trace page's details (an unknown span, scheduler-originated rows, spans that link here).
Screenshots in var/screenshots/ (and docs/screenshots/ with JOBTRACE_DOCS_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from console import links
from jobs.compare.tests.scenario import nightly
from tests import factories
from tests import factories_traces as ft
from tests.browser.test_responder_browser import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def wide(browser, live_server, plain_http_cookies, ns, owner):
    context, page = signed_in(browser, live_server)
    yield page
    context.close()


def _keep(screenshots: Path, name: str) -> None:
    if os.environ.get("JOBTRACE_DOCS_SCREENSHOTS") == "1":
        shutil.copy(screenshots / name, DOCS / name)


def test_from_the_job_page_two_clicks_reach_the_operation_that_made_the_run_slow(wide, live_server, ns, screenshots):
    story = nightly(ns, fast=3, slow=1)
    slow = story.runs[-1]
    wide.goto(f"{live_server.url}{links.job_url(ns.name, story.job.name)}")
    wide.get_by_role("link", name=slow.execution_id, exact=True).click()  # click 1
    expect(wide.locator("#against-usual")).to_contain_text("slower than usual")
    wide.locator("#compare-previous").click()  # click 2
    expect(wide.locator("#biggest")).to_have_text(re.compile(r"ServiceApplication\s+userInfoSave \+12\.00 s"))
    first = wide.locator("tr.cmp-row").first
    expect(first.locator(".op-name")).to_have_text("userInfoSave")
    expect(first.locator(".self-delta")).to_have_text("+12.00 s")
    wide.screenshot(path=screenshots / "compare.png", full_page=True)
    _keep(screenshots, "compare.png")
    first.locator("a.span-b").click()
    expect(wide.locator("#span-detail")).to_contain_text("userInfoSave")
    assert f"/traces/{slow.trace_id}/" in wide.url
    assert wide.problems == []


def test_the_trace_page_says_an_unknown_span_was_not_found_and_marks_scheduler_rows(wide, live_server, ns):
    tid = factories.trace_id()
    root = ft.span(
        ns, tid, name="POST /tasks/reindex", service="search-api", attributes={"traffic.origin": "scheduler"}
    )
    ft.span(ns, tid, parent=root.span_id, name="reindex", service="search-api")
    ft.summarise(ns, tid)
    wide.goto(f"{live_server.url}{links.trace_url(tid, 'feedfacefeedface')}")
    expect(wide.locator("#span-not-found")).to_contain_text("feedfacefeedface")
    expect(wide.locator(f"#span-{root.span_id} .origin-scheduler")).to_be_visible()
    expect(wide.locator(".wf-row .origin-scheduler")).to_have_count(1)
    assert wide.problems == []
