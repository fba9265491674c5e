"""The span writer's post-store steps: in their order, inside its transaction, told which spans it stored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from traces.models import Span, Trace
from traces.poststore import StoredSpans, span_steps
from traces.store import store_spans
from traces.tests.builders import otlp_doc, otlp_span, parsed, sid, tid

pytestmark = pytest.mark.django_db


def test_after_spans_linking_runs_then_the_message_envelopes():
    assert span_steps.names() == ["linking", "log linking", "message envelopes"]


@pytest.fixture
def seen() -> Iterator[list[StoredSpans]]:
    calls: list[StoredSpans] = []
    span_steps.register("test: seen", calls.append, order=10_000)
    yield calls
    span_steps.unregister("test: seen")


def test_a_step_is_told_the_touched_traces_and_which_spans_this_call_stored(ns, seen):
    t, s = tid(), sid()
    spans = parsed(("svc", [otlp_span(t, s)]))
    store_spans(ns, spans)
    store_spans(ns, spans)  # an exporter's retry
    assert [(c.namespace_id, list(c.trace_ids), len(c.received), len(c.stored)) for c in seen] == [
        (ns.pk, [t], 1, 1),
        (ns.pk, [t], 1, 0),
    ]


def test_a_step_that_fails_rolls_the_spans_back_and_the_receiver_never_answers_200(ns, otlp, seen):
    def broken(stored: StoredSpans) -> None:
        raise RuntimeError("step failed")

    t = tid()
    span_steps.register("test: broken", broken, order=10_001)
    try:
        with pytest.raises(RuntimeError, match="step failed"):
            store_spans(ns, parsed(("svc", [otlp_span(t, sid())])))
        with pytest.raises(RuntimeError, match="step failed"):
            otlp.post("/v1/traces", otlp_doc(("svc", [otlp_span(t, sid())])), content_type="application/json")
    finally:
        span_steps.unregister("test: broken")
    assert len(seen) == 2  # the steps before it ran, inside the same transaction
    assert not Span.objects.filter(trace_id=t).exists()
    assert not Trace.objects.filter(trace_id=t).exists()
