"""The correlation page, the causality panel and the propagation-health figure, as a person sees them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.template import Context, Template
from django.test import Client
from django.utils import timezone

from jobs.choices import Trigger
from jobs.models import Message
from tests import factories
from tests import factories_causality as fc

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Users are made per test; the production hasher's cost is not what these tests measure."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def build_workflow(ns, suffix: str = "", follow_ons: int = 1):
    """request -> order.created (40 min queue) -> invoice run (2 shards) -> follow-on events."""
    t0 = timezone.now() - timedelta(hours=3)
    req_trace, job_trace = factories.trace_id(), factories.trace_id()
    fc.trace_summary(ns, req_trace, started=t0)
    fc.message(
        ns,
        f"order{suffix}",
        correlation_id="wf-1",
        causation_id="req-1",
        trace_id=req_trace,
        event_type="order.created",
        published_at=t0 + timedelta(seconds=2),
        consumed_at=t0 + timedelta(minutes=40, seconds=2),
        producer_service="shop-api",
        consumer_service="billing",
    )
    run = factories.execution(
        factories.job(ns, f"invoice{suffix}"),
        f"run{suffix}",
        trigger=Trigger.EVENT,
        message_id=f"order{suffix}",
        correlation_id="wf-1",
        causation_id="req-1",
        trace_id=job_trace,
        sampled=True,
        started_at=t0 + timedelta(minutes=40, seconds=5),
        finished_at=t0 + timedelta(minutes=41),
    )
    fc.trace_summary(ns, job_trace, service="billing", started=t0 + timedelta(minutes=40, seconds=5))
    for i in range(2):
        factories.shard(run, f"{suffix}{i}", index=i)
    for i in range(follow_ons):
        fc.message(
            ns,
            f"invoice{suffix}-{i}",
            correlation_id="wf-1",
            causation_id=f"order{suffix}",
            event_type="invoice.requested",
            published_at=t0 + timedelta(minutes=40, seconds=30),
        )
    return run


def test_the_correlation_page_draws_the_workflow_as_cause_and_effect(owner, ns):
    run = build_workflow(ns)
    response = signed_in(owner).get("/correlations/wf-1/")
    assert response.status_code == 200
    html = response.content.decode()
    order = [html.index(s) for s in ("request req-1", "order.created order", "invoice #run", "invoice.requested")]
    assert order == sorted(order)  # cause before effect
    assert "/jobs/payments/invoice/runs/run/" in html
    assert f"/traces/{run.trace_id}/" in html
    assert "<svg" in html
    assert "style=" not in html


def test_a_long_queue_wait_is_highlighted(owner, ns):
    build_workflow(ns)
    html = signed_in(owner).get("/correlations/wf-1/").content.decode()
    assert re.search(r'<span class="wait long">⚠ 40 min</span>', html)
    assert 'class="queue long"' in html
    assert "1 message waited 5 min or more in a queue" in html


def test_broken_links_are_highlighted(owner, ns):
    build_workflow(ns)
    fc.message(ns, "stray", correlation_id="wf-1", causation_id="ghost", event_type="refund")
    html = signed_in(owner).get("/correlations/wf-1/").content.decode()
    assert "cause ghost not found in this workflow" in html
    assert re.search(r'<tr class="row-message broken"', html)


def test_a_causation_cycle_on_the_page_terminates_and_is_reported(owner, ns):
    fc.message(ns, "a", correlation_id="loop", causation_id="b")
    fc.message(ns, "b", correlation_id="loop", causation_id="a")
    html = signed_in(owner).get("/correlations/loop/").content.decode()
    assert "causation cycle" in html
    assert "the causation ids form a cycle" in html


def test_the_correlation_page_needs_a_sign_in(client, ns):
    build_workflow(ns)
    response = client.get("/correlations/wf-1/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_an_outsider_gets_404_and_never_a_hint(outsider, ns):
    build_workflow(ns)
    assert signed_in(outsider).get("/correlations/wf-1/").status_code == 404
    assert signed_in(outsider).get("/correlations/no-such-workflow/").status_code == 404


def test_another_namespaces_messages_never_join_the_workflow(owner, ns, other_ns):
    build_workflow(ns)
    fc.message(other_ns, "intruder", correlation_id="wf-1", causation_id="order")
    html = signed_in(owner).get("/correlations/wf-1/").content.decode()
    assert "intruder" not in html


def test_the_correlation_page_query_count_does_not_grow_with_the_workflow(owner, ns, django_assert_num_queries):
    build_workflow(ns, follow_ons=1)
    client = signed_in(owner)
    client.get("/correlations/wf-1/")  # warm the session
    with django_assert_num_queries(16) as small:
        client.get("/correlations/wf-1/")
    build_workflow(ns, suffix="-b", follow_ons=8)
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get("/correlations/wf-1/")
    assert response.content.decode().count('class="hop-kind"') >= 2 * (1 + 1 + 2 + 1) + 7


def render(template: str, **context) -> str:
    return Template("{% load causality_tags %}" + template).render(Context(context))


def test_the_panel_shows_caused_by_caused_and_gaps_of_an_execution(ns):
    run = build_workflow(ns)
    run.sampled, run.trace_id = True, factories.trace_id()  # a trace that never arrived
    run.save()
    html = render("{% causality_panel run %}", run=run)
    assert "Caused by" in html
    assert "order.created order" in html
    assert "request req-1" in html
    assert "queued 40 min" in html
    assert "invoice.requested invoice-0" in html
    assert "Sampled, but the spans never arrived" in html
    assert 'href="/correlations/wf-1/"' in html


def test_the_panel_on_a_shard_starts_with_its_execution(ns):
    run = build_workflow(ns)
    shard = run.shards.get(shard_id="0")
    html = render("{% causality_panel shard %}", shard=shard)
    assert html.index("invoice #run") < html.index("order.created order")


def test_the_panel_costs_a_bounded_number_of_queries(ns, django_assert_num_queries):
    run = build_workflow(ns, follow_ons=10)
    run = type(run).objects.select_related("job__namespace").get(pk=run.pk)
    with django_assert_num_queries(17):
        render("{% causality_panel run %}", run=run)


def test_the_health_figure_renders_on_the_job(ns):
    job = factories.job(ns, "invoice")
    factories.execution(job, message_id="m1", correlation_id="wf", causation_id="r")
    factories.execution(job, message_id="m2")
    html = render("{% propagation_health job %}", job=job)
    assert "<strong>50%</strong> of the last 2 runs" in html
    assert "/api/v1/jobs/payments/invoice/propagation" in html


def test_the_execution_and_job_pages_carry_the_panel_and_the_figure(owner, ns):
    run = build_workflow(ns)
    client = signed_in(owner)
    execution_page = client.get("/jobs/payments/invoice/runs/run/")
    assert execution_page.status_code == 200
    assert "Caused by" in execution_page.content.decode()
    job_page = client.get("/jobs/payments/invoice/")
    assert job_page.status_code == 200
    assert "Propagation health" in job_page.content.decode()
    assert run.job.name == "invoice"


def test_the_panel_lists_a_bounded_number_of_follow_ons(ns):
    run = build_workflow(ns, follow_ons=30)
    html = render("{% causality_panel run %}", run=run)
    assert html.count("invoice.requested invoice-") == 25
    assert "and 5 more on the" in html


def test_the_origin_requests_trace_links_its_workflow_and_names_its_consumers(
    owner, outsider, ns, django_assert_num_queries
):
    """POST /orders published order.created; the trace page says which workflow that is and which run consumed
    it, both as links."""
    run = build_workflow(ns)
    req_trace = Message.objects.get(message_id="order").trace_id
    fc.span(ns, req_trace, name="orders publish", service="shop-api", kind=fc.PRODUCER, message_id="order",
            correlation_id="wf-1")  # fmt: skip
    client = signed_in(owner)
    html = client.get(f"/traces/{req_trace}/").content.decode()
    section = html[html.index('id="trace-causality"') :]
    section = section[: section.index("</section>")]
    assert 'href="/correlations/wf-1/" class="mono correlation-link">wf-1</a>' in section
    assert re.search(
        r'href="/correlations/wf-1/" class="message-link">order.created <span class="mono">order</span>', section
    )
    assert f'href="/jobs/payments/invoice/runs/{run.execution_id}/" class="consumer-link">invoice #run</a>' in section
    # Its cost is bounded whatever the trace published.
    with django_assert_num_queries(5):
        render("{% trace_causality ns_id trace_id %}", ns_id=ns.pk, trace_id=req_trace)
    # A trace that published nothing shows nothing, in two queries.
    quiet = factories.trace_id()
    fc.span(ns, quiet)
    with django_assert_num_queries(2):
        assert render("{% trace_causality ns_id trace_id %}", ns_id=ns.pk, trace_id=quiet).strip() == ""
    # Another namespace's trace of the same id is not this one.
    assert signed_in(outsider).get(f"/traces/{req_trace}/").status_code == 404


def test_message_ids_on_the_panel_and_the_workflow_page_are_links(owner, ns):
    run = build_workflow(ns)
    panel = render("{% causality_panel run %}", run=run)
    assert re.search(r'<a href="/correlations/wf-1/">order.created order</a>', panel)
    page = signed_in(owner).get("/correlations/wf-1/").content.decode()
    # On its own workflow's page a message leads to the span that published it (its producer trace here).
    req_trace = Message.objects.get(message_id="order").trace_id
    assert re.search(rf'<a href="/traces/{req_trace}/">order.created order</a>', page)
    execution_page = signed_in(owner).get(f"/jobs/payments/invoice/runs/{run.execution_id}/").content.decode()
    assert 'href="/correlations/wf-1/" class="mono message-link">order</a>' in execution_page
