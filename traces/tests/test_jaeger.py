"""Jaeger: pull (sync_jaeger) over v1 and v3 from a loopback stand-in serving the real fixtures, query-through for
unknown trace ids (found / not found / unreachable / slow), and import_traces over every fixture file."""

from __future__ import annotations

import socket
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from traces.jaeger import DISABLED, FOUND, INVALID, NOT_FOUND, SLOW, UNREACHABLE, fetch_missing_trace
from traces.models import Span, Trace
from traces.tests.jaeger_standin import serve

pytestmark = pytest.mark.django_db


@pytest.fixture
def jaeger(fixtures_dir):
    with serve(fixtures_dir) as (url, standin):
        yield url, standin


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def test_sync_jaeger_v1_pulls_a_service_window(ns, jaeger):
    url, standin = jaeger
    out = run("sync_jaeger", "--url", url, "--namespace", "payments", "--service", "issue115", "--lookback", "4000d")
    assert "issue115: read 2 span(s) in 1 trace(s); stored 2 (2 new); rejected 0" in out
    trace = Trace.objects.get(namespace=ns, trace_id="2992f2a5b5d037a8aabffd08ef384237")
    assert trace.span_count == 2
    assert trace.root_name == "demo"
    assert any(r.startswith("/api/traces?service=issue115&start=") for r in standin.requests)
    # a second pull stores nothing twice
    run("sync_jaeger", "--url", url, "--namespace", "payments", "--service", "issue115", "--lookback", "4000d")
    assert Span.objects.filter(namespace=ns).count() == 2


def test_sync_jaeger_without_a_service_pulls_every_service(ns, jaeger):
    url, standin = jaeger
    out = run("sync_jaeger", "--url", url, "--namespace", "payments", "--lookback", "4000d")
    assert "/api/services" in standin.requests
    assert "telemetrygen:" in out
    assert "issue115:" in out
    assert Trace.objects.filter(namespace=ns).count() >= 7


def test_sync_jaeger_v3_uses_rfc3339_bounds_and_treats_404_as_none_found(ns, jaeger):
    url, _standin = jaeger
    out = run("sync_jaeger", "--url", f"{url}/api/v3", "--namespace", "payments", "--lookback", "1h")
    assert "foo: read 1 span(s) in 1 trace(s)" in out
    assert Span.objects.get(namespace=ns).status_code == 2
    out = run("sync_jaeger", "--url", url, "--api", "v3", "--namespace", "payments", "--service", "nobody")
    assert "nobody: no traces" in out


def test_sync_jaeger_follow_stops_on_ctrl_c(ns, jaeger, monkeypatch):
    url, _ = jaeger

    def interrupt(seconds):
        assert 1 <= seconds <= 3600
        raise KeyboardInterrupt

    monkeypatch.setattr("traces.management.commands.sync_jaeger.time.sleep", interrupt)
    out = run(
        "sync_jaeger", "--url", url, "--namespace", "payments", "--service", "issue115", "--follow", "--interval", "0s"
    )
    assert out.strip().endswith("stopped")


def test_sync_jaeger_says_when_jaeger_is_unreachable(ns):
    with pytest.raises(CommandError, match="unreachable"):
        call_command(
            "sync_jaeger", "--url", f"http://127.0.0.1:{_closed_port()}", "--namespace", "payments", stdout=StringIO()
        )


def test_query_through_fetches_and_stores_an_unknown_trace(ns, jaeger, settings):
    url, _ = jaeger
    settings.JAEGER_QUERY_URL = url
    result = fetch_missing_trace(ns, "2992F2A5B5D037A8AABFFD08EF384237")
    assert (result.status, result.stored) == (FOUND, 2)
    assert Trace.objects.filter(namespace=ns, trace_id="2992f2a5b5d037a8aabffd08ef384237").exists()


def test_query_through_finds_a_64_bit_trace_stored_unpadded_in_jaeger(ns, jaeger, settings):
    settings.JAEGER_QUERY_URL = jaeger[0]
    loki = "0000000000000000" + "2ee9739529395e31"
    result = fetch_missing_trace(ns, loki)
    assert result.status == FOUND, result.message
    assert Trace.objects.filter(namespace=ns, trace_id=loki).exists()


def test_query_through_answers_not_found_disabled_and_invalid(ns, other_ns, jaeger, settings):
    settings.JAEGER_QUERY_URL = ""
    assert fetch_missing_trace(ns, "ab" * 16).status == DISABLED
    settings.JAEGER_QUERY_URL = jaeger[0]
    assert fetch_missing_trace(ns, "ab" * 16).status == NOT_FOUND
    assert fetch_missing_trace(ns, "trace-123").status == INVALID
    # a trace another namespace already holds is never copied across the tenant line
    assert fetch_missing_trace(other_ns, "2992f2a5b5d037a8aabffd08ef384237").status == FOUND
    assert fetch_missing_trace(ns, "2992f2a5b5d037a8aabffd08ef384237").status == NOT_FOUND


def test_query_through_to_a_dead_or_slow_backend_says_so_quickly(ns, fixtures_dir, settings):
    settings.JAEGER_TIMEOUT_SECONDS = 0.5
    settings.JAEGER_QUERY_URL = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    assert fetch_missing_trace(ns, "ab" * 16).status == UNREACHABLE
    with serve(fixtures_dir, delay=3) as (url, _):
        settings.JAEGER_QUERY_URL = url
        result = fetch_missing_trace(ns, "2992f2a5b5d037a8aabffd08ef384237")
    assert result.status == SLOW
    assert "0.5" in result.message
    assert time.monotonic() - started < 3
    assert not Span.objects.exists()


SPAN_DIRS = ("otlp_json", "otlp_protobuf", "jaeger_api_v1", "zipkin_v2", "tempo")


def test_import_traces_reads_every_fixture_and_reports_per_file(ns, fixtures_dir):
    files = [str(p) for d in SPAN_DIRS for p in sorted((fixtures_dir / d).iterdir())]
    files.append(str(fixtures_dir / "jaeger_api_v3" / "jaeger_apiv3_GetTrace_snapshot.json"))
    out = run("import_traces", "--namespace", "payments", *files)
    for name in files:
        assert f"{name}: " in out
    assert "rejected 0" in out
    assert "rejected 1" not in out
    assert "jaeger-v1: read 5 span(s) in 1 trace(s); stored 5 (4 new, 1 already stored or repeated)" in out
    assert "note: non-hex Jaeger ids" in out
    count = Span.objects.filter(namespace=ns).count()
    run("import_traces", "--namespace", "payments", *files)  # idempotent
    assert Span.objects.filter(namespace=ns).count() == count
    for trace in Trace.objects.filter(namespace=ns):
        assert trace.span_count == Span.objects.filter(namespace=ns, trace_id=trace.trace_id).count()


def test_import_traces_names_files_it_cannot_read_and_fails(ns, fixtures_dir, tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"alerts": []}')
    good = fixtures_dir / "otlp_json" / "otlp_official_example_trace.json"
    out = StringIO()
    with pytest.raises(CommandError, match="2 of 3"):
        call_command(
            "import_traces",
            "--namespace",
            "payments",
            str(bad),
            str(good),
            str(tmp_path / "missing.json"),
            stdout=out,
            stderr=out,
        )
    assert "bad.json: rejected, nothing stored: unrecognised trace JSON" in out.getvalue()
    assert Span.objects.filter(namespace=ns).count() == 1
    with pytest.raises(CommandError, match="does not exist"):
        call_command("import_traces", "--namespace", "nope", str(good))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
