"""The correlation page in a real Chromium: it renders under the strict CSP with no violation."""

from __future__ import annotations

import os
import shutil

import pytest

from jobs.causality.tests.test_pages import build_workflow

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Users are made per test; the production hasher's cost is not what these tests measure."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    yield page
    page.close()


def test_the_correlation_page_renders_in_a_browser_without_csp_violations(transactional_db, live_server, page, ns):
    from tests import factories

    factories.user(ns, "viewer", username="viewer")
    build_workflow(ns, follow_ons=2)
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{live_server.url}/accounts/login/?next=/correlations/wf-1/")
    page.fill("input[name=username]", "viewer")
    page.fill("input[name=password]", "pw-Jobtrace-1")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url("**/correlations/wf-1/")
    assert page.locator("table.timeline tbody tr").count() == 1 + 1 + 1 + 2 + 2
    assert page.locator("tr.wait-long").count() == 1
    # The stylesheet applied: the long-wait queue bar is amber, not the default black.
    fill = page.locator("rect.queue.long").evaluate("el => getComputedStyle(el).fill")
    assert fill == "rgb(245, 158, 11)"
    shot = os.environ.get("CAUSALITY_SCREENSHOT")
    if shot:
        page.screenshot(path=shot, full_page=True)
    assert not [p for p in problems if "Content Security Policy" in p], problems
    page.goto(f"{live_server.url}/jobs/payments/invoice/runs/run/")
    assert page.get_by_role("heading", name="Caused by").is_visible()
    if shot:
        page.screenshot(path=shot.replace(".png", "-panel.png"), full_page=True)
    assert not [p for p in problems if "Content Security Policy" in p], problems
