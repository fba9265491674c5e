"""The job page's schedule in a real Chromium under the CSP: the schedule in words, the strip of the last ticks
coloured by outcome, and a responder clicking the missed tick to land on the last successful run (whose trace the
card links). Screenshot in var/screenshots/schedule.png."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from console import links
from jobs.schedules.monitor import run_check
from jobs.schedules.store import sync_state
from tests import factories
from tests.browser.test_responder_browser import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_responder_sees_the_missed_tick_and_clicks_through_to_the_last_good_run(
    browser, live_server, plain_http_cookies, ns, owner, screenshots
):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    job = factories.job(ns, "every-five", schedule="*/5 * * * *", grace_seconds=60, max_runtime_seconds=600)
    sync_state(job, now - timedelta(minutes=26), reset=True)
    last_tick = now - timedelta(minutes=now.minute % 5)
    trace = factories.trace_id()
    for k in range(5, 1, -1):
        at = last_tick - timedelta(minutes=5 * k, seconds=-4)
        factories.execution(job, f"run-{k}", status="succeeded", started_at=at, finished_at=at, trace_id=trace)
    run_check(datetime.now(UTC))  # the ticks after run-2 had no run: missed
    context, page = signed_in(browser, live_server)
    try:
        page.goto(f"{live_server.url}{links.job_url(ns.name, job.name)}")
        expect(page.locator(".schedule-words strong")).to_have_text("Every 5 minutes (UTC)")
        expect(page.locator(".next-runs li")).to_have_count(5)
        strip = page.locator(".tick-strip .tick")
        expect(strip).to_have_count(20)
        assert page.locator('.tick[data-outcome="on_time"]').count() >= 3
        missed = page.locator('.tick[data-outcome="missed"] a')
        assert missed.count() >= 1
        colour = missed.first.evaluate("e => getComputedStyle(e).backgroundColor")
        assert colour == "rgb(124, 58, 237)"  # --cp: the missed colour, not the grey of "no run"
        expect(page.locator(".last-success a").last).to_have_attribute("href", f"/traces/{trace}/")
        page.screenshot(path=screenshots / "schedule.png", full_page=True)
        missed.last.click()
        page.wait_for_url(f"{live_server.url}/jobs/payments/every-five/runs/run-2/")
        assert page.problems == []
    finally:
        context.close()
