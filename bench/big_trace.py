"""A 100,000-span trace: the trace page's server time, and what a person waits for in Chromium
(`python -m bench big_trace`).

Server: the median of 5 GETs of the trace page through Django's full stack in-process (bench/pages.py's
`_measure`), and of the subtree fragment a "+N" opens: each as a first open (the waterfalls a process keeps,
traces/recent.py, forgotten before every GET) and as it comes after the page (kept). Browser: the page served by
gunicorn (`make serve`'s config) and opened in Debian's Chromium through Playwright: first contentful paint (the
Paint Timing API), and the time from clicking a collapsed row's "+N" until its subtree's rows are in the page.
Timings are printed, never asserted. Target: the server answers the page in under 1 s.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time

from bench._support import ROOT, fresh_database, gunicorn

SPANS = 100_000
TARGET_MS = 1000
TRACE_ID = f"{SPANS:08x}" + "ef" * 12
CHROMIUM = os.environ.get("JOBTRACE_CHROMIUM", "/usr/bin/chromium")


def main() -> None:
    if os.environ.get("BENCH_BIG_TRACE_REUSE") == "1":  # measure again on the data of a previous run
        from urllib.parse import urlsplit

        base = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jobtrace_bench"))
        url = base._replace(path=f"{base.path}_big_trace").geturl()
        _browser(url)
        return
    url = fresh_database("big_trace")
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "console.settings", "DEBUG": "false"}
    subprocess.run([sys.executable, "-m", "bench.big_trace", "--inner"], cwd=ROOT, env=env, check=True)
    _browser(url)


def inner() -> None:
    import django

    django.setup()
    from django.test import Client
    from django.utils import timezone

    from bench.pages import _insert_spans, _measure, _spans_of_trace, _summary
    from console import links
    from jobs.models import Namespace
    from tests import factories
    from traces import recent
    from traces.models import TraceService

    ns = Namespace.objects.create(name="bench")
    user = factories.user(ns, "viewer", username="bench-viewer")
    user.set_password("bench-Password-1")
    user.save()
    started = time.perf_counter()
    spans = _spans_of_trace(ns.pk, TRACE_ID, SPANS, int(timezone.now().timestamp() * 1e9) - 60 * 10**9)
    _insert_spans(spans)
    trace, services = _summary(ns, TRACE_ID, spans)
    trace.save()
    for s in services:
        s.trace = trace
    TraceService.objects.bulk_create(services)
    print(f"data: {SPANS:,} spans in {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.1f}")
    client = Client()
    client.force_login(user)
    page = links.trace_url(TRACE_ID)
    body = client.get(page).content.decode()
    collapsed = re.search(r'data-span="([0-9a-f]{16})" data-depth="1" data-unloaded', body)
    # "first open": nothing kept (traces/recent.py forgotten before each GET); "kept": the page again, or a "+N"
    # after the page, of the unchanged trace in the same process.
    cases = [("trace page, first open", page, 5, recent.clear), ("trace page, kept", page, 5, None)]
    if collapsed:
        fragment = f"{page}rows/{collapsed.group(1)}/"
        cases.append(("subtree (+N), nothing kept", fragment, 5, recent.clear))
        cases.append(("subtree (+N) after the page", fragment, 5, lambda: (recent.clear(), client.get(page))))
    cases.append(("find by text, first open", f"{page}?find=operation-7", 3, recent.clear))
    print(f"{'case':28} {'wall med':>9} {'wall min':>9} {'cpu':>8} {'db':>7} {'HTML':>9}")
    for label, url, repeat, before in cases:
        median, fastest, cpu, db, size, status = _measure(client, url, repeat=repeat, before=before)
        verdict = (
            (f"  < {TARGET_MS} ms {'ok' if median < TARGET_MS else 'MISSED'}") if label.startswith("trace") else ""
        )
        print(f"{label:28} {median:7.1f}ms {fastest:7.1f}ms {cpu:6.1f}ms {db:5.1f}ms {size / 1024:7.1f}KiB{verdict} "
              f"[{status}]")  # fmt: skip


TIMING = """() => {
  const paint = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint');
  const nav = performance.getEntriesByType('navigation')[0];
  return [paint ? paint.startTime : null, nav.responseStart, nav.domContentLoadedEventEnd, nav.loadEventEnd];
}"""


def _browser(database_url: str) -> None:
    from playwright.sync_api import sync_playwright

    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    with gunicorn(database_url, workers=1) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{base}/accounts/login/")
        page.fill("#id_username", "bench-viewer")
        page.fill("#id_password", "bench-Password-1")
        page.click("button[type=submit]")
        paints, expands = [], []
        for _ in range(3):
            page.goto(f"{base}/traces/{TRACE_ID}/")
            page.wait_for_load_state("load")
            timing = page.evaluate(TIMING)
            paints.append(timing)
            more = page.locator(".wf-row[data-unloaded] .wf-more").first
            before = page.locator(".wf-row").count()
            started = time.perf_counter()
            more.click()
            page.locator(".wf-row").nth(before).wait_for(state="attached")  # (a predicate string would need eval)
            expands.append((time.perf_counter() - started) * 1000)
        browser.close()

    def med(k: int) -> str:
        values = [t[k] for t in paints if t[k] is not None]
        return f"{statistics.median(values):.0f} ms" if values else "n/a"

    print(f"Chromium (median of 3 loads): first byte {med(1)}, first contentful paint {med(0)}, DOMContentLoaded "
          f"{med(2)}, load {med(3)}")  # fmt: skip
    print(f"Chromium: a '+N' subtree in the page {statistics.median(expands):.0f} ms after the click")


if __name__ == "__main__":
    if sys.argv[1:] == ["--inner"]:
        inner()
    else:
        main()
