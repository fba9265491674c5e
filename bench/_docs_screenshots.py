"""The screenshots of the full demo kept in docs/screenshots/ (`python -m bench._docs_screenshots`): overview.png,
job.png (nightly-export, its regression on the duration chart) and execution.png (the account migration's failing
run, the shard for account 1000002 first), in Debian's Chromium at 1400 x 1000, as `make run` shows them.

Not a benchmark (the leading underscore keeps it out of `make bench`): it lives here for bench/_support.py (a fresh
database, the production server). It loads the full demo (`manage.py demo`) into `<DATABASE_URL's name>_docs`, or
uses DOCS_SCREENSHOTS_DATABASE_URL, a database the demo was loaded into; serves it with gunicorn, signs in as a
superuser it creates there, and writes the three files.
"""

from __future__ import annotations

import os
import subprocess
import sys

from bench._support import ROOT, fresh_database, gunicorn

CHROMIUM = os.environ.get("JOBTRACE_CHROMIUM", "/usr/bin/chromium")
USER, PASSWORD = "admin", "docs-Screenshots-1"  # the local admin `make run` signs in as
PAGES = [
    ("overview.png", "/"),
    ("job.png", "/jobs/shop/nightly-export/"),
    ("execution.png", None),  # the failing account-migration run, the newest (the demo's dates follow today)
]


def main() -> None:
    url = os.environ.get("DOCS_SCREENSHOTS_DATABASE_URL", "")
    if not url:
        url = fresh_database("docs")
        env = {**os.environ, "DATABASE_URL": url}
        subprocess.run([sys.executable, "manage.py", "demo"], cwd=ROOT, env=env, check=True)
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", _CREATE_USER], cwd=ROOT, env=env, check=True
    )  # fmt: skip
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    shell = [sys.executable, "manage.py", "shell", "-v", "0", "-c"]
    failing = subprocess.run([*shell, _FAILING_RUN], cwd=ROOT, env=env, check=True, capture_output=True)
    failing_url = failing.stdout.decode().strip()
    from playwright.sync_api import sync_playwright

    out = ROOT / "docs" / "screenshots"
    with gunicorn(url, workers=1) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base}/accounts/login/")
        page.fill("#id_username", USER)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("load")
        for name, path in PAGES:
            page.goto(f"{base}{path or failing_url}")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=out / name, full_page=False)
            print(f"docs/screenshots/{name}: {path or failing_url}")
        browser.close()


_CREATE_USER = f"""
from django.contrib.auth import get_user_model
User = get_user_model()
user = User.objects.filter(username={USER!r}).first() or User(username={USER!r})
user.is_staff = user.is_superuser = True
user.set_password({PASSWORD!r})
user.save()
"""
_FAILING_RUN = """
from console import links
from jobs.models import Execution
run = Execution.objects.filter(job__name="account-migration", status="failed").order_by("-scheduled_at").first()
print(links.execution_url_of(run))
"""

if __name__ == "__main__":
    main()
