"""GET /api/v1/traces (search over summaries) and GET /api/v1/traces/<trace_id>, scoped to the caller."""

from __future__ import annotations

import pytest

from tests import factories
from traces.filtersets import TraceFilterSet
from traces.models import Trace
from traces.store import store_spans
from traces.tests.builders import T0, otlp_span, parsed, sid, tid

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(ns, other_ns):
    """Three traces in ns (one slow and failing, owned by an execution and shard) and one in other_ns."""
    job = factories.job(ns, "nightly-export")
    slow_t, root, save = tid(), sid(), sid()
    execution = factories.execution(job, "run-1", trace_id=slow_t)
    shard = factories.shard(execution, "shard-17", trace_id=slow_t, span_id=save)
    store_spans(
        ns,
        parsed(
            ("ecommerce", [otlp_span(slow_t, root, "", "nightly", 0, 16_000, attrs={"tenant.id": "acme"})]),
            ("ServiceApplication", [otlp_span(slow_t, save, root, "userInfoSave", 100, 15_000, error=True)]),
        ),
    )
    fast_t = tid()
    store_spans(ns, parsed(("ecommerce", [otlp_span(fast_t, sid(), "", "nightly", 86_400_000, 4_000)])))
    other_t = tid()
    store_spans(ns, parsed(("search", [otlp_span(other_t, sid(), "", "reindex", 2 * 86_400_000, 100)])))
    theirs = tid()
    store_spans(other_ns, parsed(("ecommerce", [otlp_span(theirs, sid(), "", "nightly", 0, 20_000)])))
    return {"slow": slow_t, "fast": fast_t, "other": other_t, "theirs": theirs, "execution": execution, "shard": shard}


def ids(response):
    assert response.status_code == 200, response.content
    return [r["trace_id"] for r in response.json()["results"]]


def test_search_filters_answer_from_the_summaries(reader, world):
    assert ids(reader.get("/api/v1/traces")) == [world["other"], world["fast"], world["slow"]]
    assert ids(reader.get("/api/v1/traces?job=payments/nightly-export")) == [world["slow"]]
    assert ids(reader.get("/api/v1/traces?job=nightly-export")) == [world["slow"]]
    assert ids(reader.get("/api/v1/traces?execution=run-1")) == [world["slow"]]
    assert ids(reader.get("/api/v1/traces?shard=shard-17")) == [world["slow"]]
    assert ids(reader.get("/api/v1/traces?service=ServiceApplication")) == [world["slow"]]
    assert ids(reader.get("/api/v1/traces?service=ecommerce&min_duration_ms=10000")) == [world["slow"]]
    assert ids(reader.get("/api/v1/traces?max_duration_ms=5000")) == [world["other"], world["fast"]]
    assert ids(reader.get("/api/v1/traces?operation=userInfoSave")) == [world["slow"]]
    assert ids(reader.get("/api/v1/traces?operation=reindex")) == [world["other"]]
    assert ids(reader.get("/api/v1/traces?status=error")) == [world["slow"]]
    assert ids(reader.get("/api/v1/traces?status=ok")) == [world["other"], world["fast"]]
    assert ids(reader.get("/api/v1/traces?attr=tenant.id:acme")) == [world["slow"]]
    assert ids(reader.get("/api/v1/traces?attr=service.name:search")) == [world["other"]]
    start = T0 // 1_000_000_000
    assert ids(reader.get(f"/api/v1/traces?since={start + 3600}&until={start + 2 * 86400}")) == [world["fast"]]
    assert ids(reader.get("/api/v1/traces?since=2023-11-15T00:00:00Z")) == [world["other"], world["fast"]]


def test_search_says_when_it_cut_the_results(reader, world, settings):
    settings.JOBTRACE_SEARCH_LIMIT = 2
    body = reader.get("/api/v1/traces").json()
    assert (len(body["results"]), body["truncated"], body["limit"]) == (2, True, 2)
    body = reader.get("/api/v1/traces?status=error").json()
    assert (len(body["results"]), body["truncated"]) == (1, False)
    assert reader.get("/api/v1/traces?limit=1").json()["truncated"] is True


def test_bad_filters_are_400_naming_the_filter(reader, world):
    response = reader.get("/api/v1/traces?since=yesterday-ish&min_duration_ms=fast&attr=nocolon")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"since", "min_duration_ms", "attr"}


def test_search_lists_with_a_pinned_number_of_queries(reader, world, django_assert_num_queries):
    reader.get("/api/v1/traces")  # the token's first use also records last_used_at
    with django_assert_num_queries(2):  # the token, then one query for the page (owners joined)
        assert len(ids(reader.get("/api/v1/traces"))) == 3


def test_a_trace_comes_with_its_spans_owners_console_urls_and_warnings(reader, world):
    response = reader.get(f"/api/v1/traces/{world['slow'].upper()}")
    assert response.status_code == 200
    body = response.json()
    assert body["trace_id"] == world["slow"]
    assert body["url"] == f"/traces/{world['slow']}/"
    assert body["execution"]["url"] == "/jobs/payments/nightly-export/runs/run-1/"
    assert body["job"] == {"namespace": "payments", "name": "nightly-export", "url": "/jobs/payments/nightly-export/"}
    assert body["shard"]["shard_id"] == "shard-17"
    assert body["shard"]["url"].endswith("/runs/run-1/shards/shard-17/")
    spans = {s["name"]: s for s in body["spans"]}
    assert spans["userInfoSave"]["status"] == {"code": "error", "message": "boom"}
    assert spans["userInfoSave"]["shard_id"] == "shard-17"
    assert spans["nightly"]["shard_id"] is None
    assert spans["nightly"]["execution_id"] == "run-1"
    assert spans["nightly"]["attributes"] == {"tenant.id": "acme"}
    assert body["warnings"] == []


def test_clock_skew_and_a_missing_root_are_listed_as_warnings(reader, ns):
    t, parent, child = tid(), sid(), sid()
    store_spans(
        ns, parsed(("a", [otlp_span(t, parent, sid(), "p", 100, 10)]), ("b", [otlp_span(t, child, parent, "c", 50, 5)]))
    )
    kinds = [w["kind"] for w in reader.get(f"/api/v1/traces/{t}").json()["warnings"]]
    assert sorted(kinds) == ["clock_skew", "root_missing"]


def test_outsiders_and_unknown_ids_get_404_and_anonymous_callers_401(outsider_api, anonymous_api, reader, world):
    assert outsider_api.get(f"/api/v1/traces/{world['slow']}").status_code == 404
    assert reader.get(f"/api/v1/traces/{tid()}").status_code == 404
    assert reader.get("/api/v1/traces/not-a-trace-id").status_code == 404
    assert reader.get(f"/api/v1/traces/{world['theirs']}").status_code == 404
    assert ids(outsider_api.get("/api/v1/traces")) == [world["theirs"]]
    assert anonymous_api.get("/api/v1/traces").status_code in (401, 403)


def test_the_filterset_binds_a_plain_get_form_for_the_traces_page(world):
    filterset = TraceFilterSet({"service": "ServiceApplication", "status": "error"}, queryset=Trace.objects.all())
    assert filterset.is_valid()
    assert [t.trace_id for t in filterset.qs] == [world["slow"]]
    assert set(filterset.form.fields) >= {"job", "execution", "shard", "service", "operation", "attr", "since"}
