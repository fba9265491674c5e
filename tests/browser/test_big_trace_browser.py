"""A big trace as a responder finds their way through it, in Chromium under the console's CSP: find by an
attribute value (typed after `/`), the match opened, counted, dimming the rest and reached with "next"; the
keyboard (arrows, left/right); the statistics table filtering the waterfall; expand all; the time axis; the skip
link. Screenshots in var/screenshots/ (and docs/screenshots/ with JOBTRACE_DOCS_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from console import links
from tests.browser.test_responder_browser import signed_in
from traces.tests.test_find import _big_migration

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def wide(browser, live_server, plain_http_cookies, ns, owner):
    context, page = signed_in(browser, live_server)
    yield page
    context.close()


def test_find_a_span_by_attribute_value_and_walk_the_waterfall_by_keyboard(wide, live_server, ns, screenshots):
    tid = _big_migration(ns)
    wide.goto(f"{live_server.url}{links.trace_url(tid)}")
    expect(wide.locator(".wf-tick")).to_have_count(5)
    expect(wide.locator(".wf-tick").last).to_have_text("10.00 s")
    assert not wide.locator(f"#span-{452:016x}").count()  # past the first 100 children: not loaded yet
    wide.locator("body").press("/")
    expect(wide.locator("#find-text")).to_be_focused()
    wide.keyboard.type("1000450")
    wide.keyboard.press("Enter")
    expect(wide.locator("#find-count")).to_have_text("1 match")
    match = wide.locator(f"#span-{452:016x}")
    expect(match).to_have_class(re.compile(r"\bmatch\b"))
    other = wide.locator(f"#span-{3:016x}")
    assert float(other.evaluate("r => getComputedStyle(r).opacity")) < 0.5  # the rest dimmed
    wide.locator(".find-next").click()
    expect(match).to_have_class(re.compile(r"current-match"))
    expect(match.locator(".wf-name")).to_be_focused()
    expect(wide.locator("#find-position")).to_have_text("1 of 1")
    wide.screenshot(path=screenshots / "trace-find.png", full_page=False)
    if os.environ.get("JOBTRACE_DOCS_SCREENSHOTS") == "1":
        shutil.copy(screenshots / "trace-find.png", DOCS / "trace-find.png")
    wide.locator(".find-dim").uncheck()
    assert float(other.evaluate("r => getComputedStyle(r).opacity")) == 1
    # The keyboard: down to the next row, left to the parent, left again collapses it, right expands it.
    match.locator(".wf-name").focus()
    following = match.evaluate("r => r.nextElementSibling.id")
    wide.keyboard.press("ArrowDown")
    expect(wide.locator(f"#{following} .wf-name")).to_be_focused()
    wide.keyboard.press("ArrowLeft")
    root = wide.locator(f"#span-{1:016x}")
    expect(root.locator(".wf-name")).to_be_focused()
    wide.keyboard.press("ArrowLeft")
    expect(root).to_have_class(re.compile(r"collapsed"))
    expect(match).to_be_hidden()
    wide.keyboard.press("ArrowRight")
    expect(match).to_be_visible()
    assert wide.problems == []


def test_the_statistics_table_filters_the_waterfall_and_expand_all_loads_every_row(wide, live_server, ns):
    tid = _big_migration(ns)
    wide.goto(f"{live_server.url}{links.trace_url(tid)}")
    wide.locator("#stats a.stats-op", has_text="migrate account {id}").click()
    expect(wide.locator("#find-count")).to_contain_text("600 matches")
    expect(wide.locator("#find-op")).to_have_text("migrator: migrate account {id}")
    wide.locator("#expand-all").click()
    expect(wide.locator(".wf-row")).to_have_count(601)
    wide.locator("#collapse-all").click()
    assert wide.locator(".wf-row").count() < 601
    skip = wide.locator(".skip-link")
    skip.focus()
    assert skip.bounding_box()["x"] >= 0  # shown when focused
    skip.press("Enter")
    assert wide.evaluate("location.hash") == "#waterfall"
    assert wide.problems == []


def test_a_subtree_loaded_under_a_find_marks_its_matches_and_next_reaches_them(wide, live_server, ns):
    tid = _big_migration(ns)  # a find by operation opens its first 500 matches; "+N" on the root loads the rest
    wide.goto(f"{live_server.url}{links.trace_url(tid)}")
    wide.locator("#stats a.stats-op", has_text="migrate account {id}").click()
    expect(wide.locator("#find-count")).to_contain_text("600 matches")
    marked = wide.locator(".wf-row.match").count()
    assert marked < 600
    unloaded = next(i for i in range(502, 602) if not wide.locator(f"#span-{i:016x}").count())
    wide.locator(f"#span-{1:016x} .wf-more").click()
    expect(wide.locator(".wf-row")).to_have_count(601)
    expect(wide.locator(f"#span-{unloaded:016x}")).to_have_class(re.compile(r"\bmatch\b"))
    expect(wide.locator(".wf-row.match")).to_have_count(600)
    last = wide.locator(f"#span-{601:016x}")
    wide.locator(".find-prev").click()  # from the start, backwards: the last match, now loaded
    expect(last).to_have_class(re.compile(r"current-match"))
    expect(wide.locator("#find-position")).to_have_text("600 of 600")
    assert wide.problems == []


def test_dragging_across_the_minimap_zooms_the_waterfall_to_that_range(wide, live_server, ns):
    tid = _big_migration(ns)
    wide.goto(f"{live_server.url}{links.trace_url(tid)}")
    expect(wide.locator("#wf-minimap-map rect.mm-err")).to_have_count(1)  # the failing account's start
    bar = wide.locator("svg.wf-bar").first
    assert bar.get_attribute("viewBox") == "0 0 1000 10"
    box = wide.locator("#wf-minimap-map").bounding_box()
    y = box["y"] + box["height"] / 2
    wide.mouse.move(box["x"] + 1, y)
    wide.mouse.down()
    wide.mouse.move(box["x"] + box["width"] * 0.25, y, steps=5)
    wide.mouse.up()
    from_x, _, width, _ = (float(v) for v in bar.get_attribute("viewBox").split())
    assert from_x < 5
    assert 240 < width < 260  # a quarter of the trace
    expect(wide.locator(".wf-tick").last).to_have_text(re.compile(r"^2\.[45]\d s$"))
    expect(wide.locator("#wf-zoom-state")).to_contain_text("showing")
    wide.locator("#wf-zoom-reset").click()
    assert bar.get_attribute("viewBox") == "0 0 1000 10"
    expect(wide.locator(".wf-tick").last).to_have_text("10.00 s")
    assert wide.problems == []
