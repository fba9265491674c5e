"""The /alerts/ pages and the execution page's alerts section: signed in, scoped, outsiders get 404."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import timezone

from jobs.alerts.ingest import parse_alertmanager
from jobs.alerts.store import store_notification
from jobs.choices import RunStatus
from tests import factories
from tests import factories_alerts as fa

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Personas' passwords are hashed at creation; a fast hasher keeps setup cheap (no test signs in by password)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def linked(ns):
    job = factories.job(ns, "settlement-migration")
    run = factories.execution(job, "run-42", status=RunStatus.FAILED)
    factories.shard(run, "acct-1000002", status=RunStatus.FAILED)
    labels = {"alertname": "SettlementFailed", "job": job.name, "execution_id": "run-42", "shard_id": "acct-1000002"}
    (stored,) = store_notification(
        parse_alertmanager(fa.notification(fa.alert(labels, timezone.now() - timedelta(minutes=3)))), ns
    ).alerts
    return stored.alert, run


def test_the_pages_need_a_sign_in(client, linked):
    alert, _ = linked
    for url in ("/alerts/", f"/alerts/{alert.pk}/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_the_list_shows_the_teams_alerts(client, teammate, linked, other_ns):
    store_notification(
        parse_alertmanager(fa.notification(fa.alert({"alertname": "TheirSecretAlert"}, timezone.now()))), other_ns
    )
    client.force_login(teammate)
    page = client.get("/alerts/").content.decode()
    assert "SettlementFailed" in page
    assert f'href="/alerts/{linked[0].pk}/"' in page
    assert "TheirSecretAlert" not in page


def test_the_list_filters_by_status(client, teammate, linked):
    client.force_login(teammate)
    assert "SettlementFailed" in client.get("/alerts/?status=firing").content.decode()
    assert "SettlementFailed" not in client.get("/alerts/?status=resolved").content.decode()


def test_the_list_page_query_count_is_pinned(client, teammate, ns, django_assert_num_queries):
    for i in range(8):
        store_notification(parse_alertmanager(fa.notification(fa.alert({"n": str(i)}, timezone.now()))), ns)
    client.force_login(teammate)
    # session, user, memberships, count, page of alerts (namespace joined, links counted)
    with django_assert_num_queries(5):
        response = client.get("/alerts/")
    assert response.content.decode().count('href="/alerts/') >= 8


def test_the_alert_page_links_the_execution_and_shard(client, teammate, linked):
    alert, _ = linked
    client.force_login(teammate)
    page = client.get(f"/alerts/{alert.pk}/").content.decode()
    assert 'href="/jobs/payments/settlement-migration/runs/run-42/"' in page
    assert 'href="/jobs/payments/settlement-migration/runs/run-42/shards/acct-1000002/"' in page
    assert "Shard id in labels" in page


def test_an_outsider_gets_a_404_for_our_alert(client, outsider, linked):
    client.force_login(outsider)
    assert client.get(f"/alerts/{linked[0].pk}/").status_code == 404
    assert "SettlementFailed" not in client.get("/alerts/").content.decode()


def test_the_pages_carry_no_inline_script_or_style(client, teammate, linked):
    client.force_login(teammate)
    for url in ("/alerts/", f"/alerts/{linked[0].pk}/"):
        page = client.get(url).content.decode()
        assert "<script>" not in page
        assert "<style" not in page
        assert " style=" not in page
        assert " onclick=" not in page


def _render_tag(execution, user):
    request = RequestFactory().get("/")
    request.user = user
    template = Template("{% load alert_tags %}{% execution_alerts execution %}")
    return template.render(Context({"execution": execution, "request": request}))


def test_the_execution_page_tag_lists_the_alerts_linked_to_it(linked, teammate):
    alert, run = linked
    html = _render_tag(run, teammate)
    assert f'href="/alerts/{alert.pk}/"' in html
    assert "SettlementFailed" in html
    assert "acct-1000002" in html


def test_the_execution_page_tag_says_when_no_alert_is_linked(ns, teammate, linked):
    other_run = factories.execution(factories.job(ns, "quiet"), "r-0")
    assert "No alert is linked" in _render_tag(other_run, teammate)


def test_the_execution_page_tag_shows_nothing_to_an_outsider(linked, outsider):
    _, run = linked
    assert "SettlementFailed" not in _render_tag(run, outsider)


def test_the_execution_page_shows_the_alert_that_fired_for_it(client, teammate, linked):
    alert, _ = linked
    client.force_login(teammate)
    page = client.get("/jobs/payments/settlement-migration/runs/run-42/").content.decode()
    assert f'href="/alerts/{alert.pk}/"' in page
    assert "SettlementFailed" in page


@pytest.mark.browser
def test_one_click_from_the_alert_page_to_the_failing_shard_in_chromium(
    live_server, transactional_db, settings, browser
):
    """The responder's path: alert list -> alert -> failing shard, in a real browser under the console's CSP."""
    from django.test import Client

    ns = factories.namespace("payments")
    run = factories.execution(factories.job(ns, "settlement-migration"), "run-42", status=RunStatus.FAILED)
    factories.shard(run, "acct-1000002", status=RunStatus.FAILED)
    labels = {"alertname": "SettlementFailed", "job": "settlement-migration", "execution_id": "run-42"}
    labels["shard_id"] = "acct-1000002"
    store_notification(parse_alertmanager(fa.notification(fa.alert(labels, timezone.now()))), ns)
    user = factories.user(ns, username="oncall")
    django_client = Client()
    django_client.force_login(user)
    session = django_client.cookies[settings.SESSION_COOKIE_NAME].value

    problems: list[str] = []
    context = browser.new_context()
    try:
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
        page = context.new_page()
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.goto(f"{live_server.url}/alerts/")
        page.get_by_role("link", name="SettlementFailed").click()
        page.wait_for_url("**/alerts/*/")
        assert page.get_by_role("heading", name="Linked executions").is_visible()
        # Styled: the status is a red badge, the labels a table whose job and shard are links.
        badge = page.locator("#alert-status")
        assert badge.inner_text().lower() == "firing"
        assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(253, 236, 236)"
        assert page.locator("table.labels-table a.label-link", has_text="settlement-migration").is_visible()
        assert page.locator("table.labels-table a.label-link", has_text="acct-1000002").is_visible()
        from tests.browser.conftest import SCREENSHOTS

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / "alert.png", full_page=True)
        page.locator(".alert-executions").get_by_role("link", name="acct-1000002").click()
        page.wait_for_url("**/runs/run-42/shards/acct-1000002/")
    finally:
        context.close()
    assert not [text for text in problems if "Content Security Policy" in text], problems


def test_the_alert_page_shows_a_status_badge_and_its_labels_as_a_table_with_links(client, teammate, linked, ns):
    alert, _ = linked
    alert.labels = {**alert.labels, "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "severity": "page"}
    alert.save(update_fields=["labels"])
    client.force_login(teammate)
    page = client.get(f"/alerts/{alert.pk}/").content.decode()
    assert '<span class="badge status-firing" id="alert-status">Firing</span>' in page
    assert "alerts/alerts.css" in page
    rows = dict(re.findall(r'<tr><th scope="row" class="mono">([^<]+)</th><td>(.*?)</td></tr>', page))
    assert rows["job"] == '<a href="/jobs/payments/settlement-migration/" class="label-link">settlement-migration</a>'
    run_link = '<a href="/jobs/payments/settlement-migration/runs/run-42/" class="label-link">run-42</a>'
    assert rows["execution_id"] == run_link
    assert 'href="/jobs/payments/settlement-migration/runs/run-42/shards/acct-1000002/"' in rows["shard_id"]
    assert 'href="/traces/4bf92f3577b34da6a3ce929d0e0e4736/"' in rows["trace_id"]
    assert rows["severity"] == "page"  # a label that names nothing stays text
    # The linked executions name their job as a link too.
    assert '<td><a href="/jobs/payments/settlement-migration/">settlement-migration</a></td>' in page


def test_a_label_naming_a_run_the_alert_is_not_linked_to_stays_text(client, teammate, ns):
    labels = {"alertname": "Other", "job": "no-such-job", "execution_id": "run-9"}
    (stored,) = store_notification(parse_alertmanager(fa.notification(fa.alert(labels, timezone.now()))), ns).alerts
    client.force_login(teammate)
    page = client.get(f"/alerts/{stored.alert.pk}/").content.decode()
    assert "label-link" not in page
