"""Summaries-only mode (JOBTRACE_SPAN_STORAGE=summaries): through the real receiver, a trace without an error keeps
its summary, its links to its execution and shard, and an outline of its spans (no attributes, resource, events or
link bodies), a failed trace is kept whole; retries are still stored once; opening an outlined trace fetches it from
the backend (the Tempo stand-in) and keeps it whole; without a backend the page says what it lacks."""

from __future__ import annotations

import base64

import pytest

from tests import factories
from traces.models import Span, SpanLink, Trace
from traces.store import SUMMARY_ONLY_SCOPE, store_spans
from traces.tests.builders import otlp_doc, otlp_span, parsed, sid, tid

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def summaries_mode(settings) -> None:
    settings.JOBTRACE_SPAN_STORAGE = "summaries"


def _post(otlp, doc) -> None:
    response = otlp.post("/v1/traces", doc, content_type="application/json")
    assert response.status_code == 200, response.content


def test_a_trace_without_an_error_keeps_its_summary_links_and_outline_only(ns, otlp):
    job = factories.job(ns, "nightly-export")
    execution = factories.execution(job, "run-1", trace_id=(trace_id := tid()))
    root, child, target = sid(), sid(), (tid(), sid())
    attrs = {"job.execution.id": "run-1", "http.route": "/pay"}
    spans = [
        otlp_span(trace_id, root, name="root", attrs=attrs, links=[target]),
        otlp_span(trace_id, child, parent=root, name="child", start_ms=1),
    ]
    _post(otlp, otlp_doc(("checkout", spans)))
    summary = Trace.objects.get(trace_id=trace_id)
    assert (summary.span_count, summary.error_count, summary.root_name) == (2, 0, "root")
    assert summary.execution_id == execution.pk
    stored = list(Span.objects.filter(trace_id=trace_id))
    assert len(stored) == 2
    assert all(s.attributes == {} and s.resource == {} and s.events == [] and s.links == [] for s in stored)
    assert all(s.scope == SUMMARY_ONLY_SCOPE for s in stored)
    assert {s.job_execution_id for s in stored} == {"run-1", ""}
    assert all(s.execution_id == execution.pk for s in stored)
    assert SpanLink.objects.filter(trace_id=trace_id, linked_trace_id=target[0]).count() == 1


def test_a_failed_trace_is_kept_whole_even_its_spans_sent_after_the_error(ns, otlp):
    trace_id, root = tid(), sid()
    _post(otlp, otlp_doc(("checkout", [otlp_span(trace_id, root, name="root", attrs={"a": 1}, error=True)])))
    _post(otlp, otlp_doc(("checkout", [otlp_span(trace_id, sid(), parent=root, attrs={"b": 2})])))
    stored = list(Span.objects.filter(trace_id=trace_id))
    assert len(stored) == 2
    assert all(s.attributes and s.resource.get("service.name") == "checkout" for s in stored)
    assert Trace.objects.get(trace_id=trace_id).error_count == 1


def test_a_retry_is_stored_once_and_the_summary_stays_exact(ns):
    trace_id, root = tid(), sid()
    batch = parsed(("svc", [otlp_span(trace_id, root), otlp_span(trace_id, sid(), parent=root)]))
    assert store_spans(ns, batch).inserted == 2
    again = store_spans(ns, batch)
    assert (again.inserted, again.duplicates) == (0, 2)
    assert Trace.objects.get(trace_id=trace_id).span_count == 2


def _tempo_doc(standin) -> dict:
    return {"resourceSpans": standin.doc["batches"]}


def test_opening_an_outlined_trace_fetches_it_whole_from_the_backend(client, owner, ns, tempo):
    # The receiver got the trace (as the Collector's first exporter sends it) and kept its outline.
    store_spans(ns, parsed_tempo(tempo))
    outline = list(Span.objects.filter(trace_id=tempo.trace_id).values_list("scope", flat=True))
    assert outline == [SUMMARY_ONLY_SCOPE] * 8
    client.force_login(owner)
    response = client.get(f"/traces/{tempo.trace_id}/")
    assert response.status_code == 200
    assert tempo.requests == [f"/api/v2/traces/{tempo.trace_id}"]
    stored = list(Span.objects.filter(trace_id=tempo.trace_id))
    assert len(stored) == 8
    assert all(s.scope != SUMMARY_ONLY_SCOPE and s.attributes for s in stored)
    assert Trace.objects.get(trace_id=tempo.trace_id).span_count == 8
    # Opened again: held whole now, the backend is not asked.
    assert client.get(f"/traces/{tempo.trace_id}/").status_code == 200
    assert len(tempo.requests) == 1


def test_without_a_backend_an_outlined_trace_shows_its_outline_and_says_why(client, owner, ns, settings):
    settings.JAEGER_QUERY_URL = settings.TEMPO_QUERY_URL = ""
    trace_id, root = tid(), sid()
    store_spans(ns, parsed(("svc", [otlp_span(trace_id, root, name="root-op", attrs={"x": 1})])))
    client.force_login(owner)
    response = client.get(f"/traces/{trace_id}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "root-op" in page
    assert "Summaries-only mode keeps this trace" in page


def test_an_outsider_gets_404_for_an_outlined_trace(client, outsider, ns):
    trace_id = tid()
    store_spans(ns, parsed(("svc", [otlp_span(trace_id, sid())])))
    client.force_login(outsider)
    assert client.get(f"/traces/{trace_id}/").status_code == 404


def parsed_tempo(standin):
    from traces.ingest import parse_document

    doc = parse_document(_tempo_doc(standin))
    assert base64.b64decode("O6VWCcPN5JZJzXfR+dzZNg==").hex() == standin.trace_id
    return doc.spans
