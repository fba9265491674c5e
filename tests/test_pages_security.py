"""Access and safety on every console page: login, namespace scoping (outsiders get 404), escaping, CSP."""

from __future__ import annotations

import re

import pytest

from console import links
from jobs.choices import RunStatus
from tests import factories, pages_support
from tests import factories_traces as ft

fast_passwords = pages_support.fast_passwords

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

XSS_SCRIPT = "<script>alert('xss')</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'
XSS_URL = "javascript:alert(document.cookie)"


@pytest.fixture
def scenario(ns):
    return ft.account_migration(ns)


def object_pages(s: ft.AccountMigration) -> list[str]:
    trace = links.trace_url(s.trace_id)
    return [
        links.job_url(s.job.namespace.name, s.job.name),
        links.execution_url_of(s.execution),
        links.shard_url_of(s.failing),
        trace,
        f"{trace}rows/{s.failing_span.span_id}/",
        f"{trace}spans/{s.failing_span.span_id}/",
        f"{trace}otlp.json",
    ]


def test_every_page_asks_an_anonymous_visitor_to_sign_in(client, scenario):
    for url in ["/", "/traces/", "/search?q=x", *object_pages(scenario)]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url


def test_an_outsider_gets_404_on_every_object_page(client, outsider, scenario):
    client.force_login(outsider)
    for url in object_pages(scenario):
        response = client.get(url)
        assert response.status_code == 404, url
        assert scenario.job.name not in response.content.decode(), url


def test_an_outsider_sees_nothing_of_another_namespace_in_lists_search_and_lookup(client, outsider, scenario):
    client.force_login(outsider)
    assert "account-migration" not in client.get("/").content.decode()
    assert scenario.trace_id not in client.get("/traces/").content.decode()
    assert scenario.trace_id not in client.get("/traces/", {"job": "account-migration"}).content.decode()
    for q in [scenario.trace_id, scenario.execution.execution_id, scenario.failing.shard_id]:
        response = client.get("/search", {"q": q})
        assert response.status_code == 404
        assert 'id="lookup-nothing"' in response.content.decode()


def test_a_teammate_reads_every_page(client, teammate, scenario):
    client.force_login(teammate)
    for url in ["/", "/traces/", *object_pages(scenario)]:
        assert client.get(url).status_code == 200, url


def test_a_user_of_both_namespaces_reads_both(client, ns, other_ns, scenario):
    both = factories.user(ns, username="both")
    from jobs.models import Membership

    Membership.objects.create(user=both, namespace=other_ns)
    theirs = ft.account_migration(other_ns, name="their-migration")
    client.force_login(both)
    assert client.get(links.execution_url_of(theirs.execution)).status_code == 200
    assert client.get(links.execution_url_of(scenario.execution)).status_code == 200


def hostile_data(ns):
    job = factories.job(ns, "xss-job", description=XSS_SCRIPT, owner=XSS_IMG)
    tid = factories.trace_id()
    run = factories.execution(
        job, "xss-run", status=RunStatus.FAILED, error=XSS_SCRIPT + XSS_IMG, params={"p": XSS_SCRIPT}, trace_id=tid
    )
    shard = factories.shard(run, "xss-shard", status=RunStatus.FAILED, labels={"account": XSS_IMG}, error=XSS_SCRIPT,
                            trace_id=tid)  # fmt: skip
    root = ft.span(ns, tid, name=XSS_SCRIPT, service=XSS_IMG, error=True, status_message=XSS_IMG,
                   attributes={"url.full": XSS_URL, "evil": XSS_SCRIPT, XSS_IMG: "key"},
                   events=[{"time_ns": 1, "name": "exception", "attributes": {
                       "exception.type": XSS_IMG, "exception.message": XSS_SCRIPT, "exception.stacktrace": XSS_IMG}}],
                   links=[{"trace_id": XSS_URL, "span_id": XSS_IMG}])  # fmt: skip
    ft.span(ns, tid, parent=root.span_id, name=XSS_IMG, service=XSS_SCRIPT)
    ft.summarise(ns, tid, job=job, execution=run, shard=shard)
    return job, run, shard, tid, root


def handler_attributes(html: str) -> list[str]:
    """Event-handler attributes (`onerror=`, `onclick=`...) of the page's elements, as a browser parses them: an
    escaped ` onerror=` inside an attribute's quoted value (a hostile span name offered in a <datalist>) is text."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.extend(f"<{tag} {name}=" for name, _ in attrs if name.lower().startswith("on"))

    Parser().feed(html)
    return found


def assert_inert(html: str, url: str) -> None:
    assert "<script>alert" not in html, url
    assert "<img src=x" not in html, url
    assert not re.search(r"""href=["']?\s*javascript:""", html, re.IGNORECASE), url
    assert handler_attributes(html) == [], url  # no event-handler attribute anywhere


def test_hostile_span_names_attributes_errors_and_labels_render_inert(client, owner, ns):
    job, run, shard, tid, root = hostile_data(ns)
    client.force_login(owner)
    trace = links.trace_url(tid)
    pages = [
        "/",
        links.job_url(ns.name, job.name),
        links.execution_url_of(run),
        links.shard_url_of(shard),
        trace,
        f"{trace}spans/{root.span_id}/",
        f"{trace}rows/{root.span_id}/",
        "/traces/",
        f"/search?q={XSS_SCRIPT}",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code in (200, 404), url
        html = response.content.decode()
        assert_inert(html, url)
    shard_page = client.get(links.shard_url_of(shard)).content.decode()
    assert "&lt;script&gt;alert(" in shard_page  # shown, as text
    assert XSS_URL in client.get(f"{trace}spans/{root.span_id}/").content.decode()  # shown, as text, not a link


def test_pages_carry_a_csp_and_need_no_inline_script_or_style(client, owner, scenario):
    client.force_login(owner)
    for url in ["/", "/traces/", *object_pages(scenario)[:4]]:
        response = client.get(url)
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        html = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url  # every script is a file
        assert not re.search(r"\sstyle\s*=", html), url
        assert "<style" not in html, url
        assert handler_attributes(html) == [], url


def test_lookup_goes_straight_to_a_single_match(client, owner, scenario):
    client.force_login(owner)
    response = client.get("/search", {"q": scenario.execution.execution_id})
    assert response.status_code == 302
    assert response["Location"] == links.execution_url_of(scenario.execution)
    response = client.get("/search", {"q": scenario.failing.shard_id})
    assert response["Location"] == links.shard_url_of(scenario.failing)
    response = client.get("/search", {"q": scenario.trace_id.upper()})
    assert response["Location"] == links.trace_url(scenario.trace_id)


def test_lookup_lists_several_matches_and_says_when_there_is_none(client, owner, ns, scenario):
    factories.execution(factories.job(ns, "other-job"), scenario.execution.execution_id)
    client.force_login(owner)
    response = client.get("/search", {"q": scenario.execution.execution_id})
    assert response.status_code == 200
    assert response.content.decode().count('<span class="kind">execution</span>') == 2
    response = client.get("/search", {"q": "no-such-id"})
    assert response.status_code == 404
    assert "Nothing found" in response.content.decode()


def test_the_login_page_renders_and_signs_in(client, owner):
    response = client.get("/accounts/login/?next=/")
    assert response.status_code == 200
    assert 'name="username"' in response.content.decode()
    response = client.post("/accounts/login/", {"username": "owner", "password": "pw-Jobtrace-1", "next": "/"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_healthz_answers_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.fixture
def slashed(ns):
    """Ids holding `/` (and `%`, `..`), as schedulers name folders and runs: stored as sent, every page reachable."""
    tid = factories.trace_id()
    job = factories.job(ns, "etl/daily")
    run = factories.execution(job, "run/1", status=RunStatus.FAILED, trace_id=tid)
    shard = factories.shard(run, "../part%7", status=RunStatus.FAILED, trace_id=tid)
    root = ft.span(ns, tid, name="root", service="etl")
    ft.summarise(ns, tid, job=job, execution=run, shard=shard)
    return job, run, shard, root


def test_ids_holding_a_slash_are_reachable_on_every_page_and_their_links_lead_there(client, owner, ns, slashed):
    job, run, shard, _ = slashed
    pages = [links.job_url(ns.name, job.name), links.execution_url_of(run), links.shard_url_of(shard)]
    assert pages[1] == "/jobs/payments/etl%252Fdaily/runs/run%252F1/"
    client.force_login(owner)
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert job.name in response.content.decode(), url
    assert f'href="{pages[0]}"' in client.get("/").content.decode()  # the overview links to the job
    assert client.get("/search", {"q": "run/1"})["Location"] == pages[1]  # lookup goes there
    assert client.get("/search", {"q": "../part%7"})["Location"] == pages[2]


def test_an_outsider_gets_404_on_the_pages_of_ids_holding_a_slash(client, outsider, ns, slashed):
    job, run, shard, _ = slashed
    client.force_login(outsider)
    for url in [links.job_url(ns.name, job.name), links.execution_url_of(run), links.shard_url_of(shard)]:
        assert client.get(url).status_code == 404, url


@pytest.mark.parametrize("value", ["9999999d", "0001-01-01T00:00:00+01:00", "2026-03-01T00:00:00Z\x00garbage"])
def test_an_out_of_range_or_garbled_time_on_the_trace_search_page_is_a_400_that_says_so(client, owner, value):
    client.force_login(owner)
    response = client.get("/traces/", {"since": value})
    assert response.status_code == 400
    message = response.content.decode()
    assert "not a time" in message or "out of range" in message or "Null characters are not allowed" in message
