"""`sync_jaeger --trace-id`: pull single traces from Jaeger (the loopback stand-in serving the real fixtures)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from traces.models import Span, Trace
from traces.tests.jaeger_standin import serve

pytestmark = pytest.mark.django_db
KNOWN = "2992f2a5b5d037a8aabffd08ef384237"  # jaeger_api_trace_issue115_follows_from.json


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def test_a_trace_is_pulled_by_its_id_and_a_second_pull_changes_nothing(ns, fixtures_dir):
    with serve(fixtures_dir) as (url, standin):
        out = run("sync_jaeger", "--url", url, "--namespace", ns.name, "--trace-id", KNOWN.upper())
        run("sync_jaeger", "--url", url, "--namespace", ns.name, "--trace-id", KNOWN)
    assert f"{KNOWN}: read 2 span(s) in 1 trace(s); stored 2 (2 new); rejected 0" in out
    assert Trace.objects.get(namespace=ns, trace_id=KNOWN).span_count == 2
    assert Span.objects.filter(namespace=ns).count() == 2
    assert f"/api/traces/{KNOWN}" in standin.requests


def test_an_unknown_trace_id_is_reported_and_a_malformed_one_refused(ns, fixtures_dir):
    with serve(fixtures_dir) as (url, _):
        out = run("sync_jaeger", "--url", url, "--namespace", ns.name, "--trace-id", "ab" * 16)
        with pytest.raises(CommandError, match="not a trace id"):
            run("sync_jaeger", "--url", url, "--namespace", ns.name, "--trace-id", "not-hex")
    assert "not found in Jaeger" in out
    assert not Span.objects.exists()
