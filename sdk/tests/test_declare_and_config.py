"""Job declarations (`Jobtrace.declare_job` -> PUT /api/v1/jobs/<ns>/<job>) against the capture console (the
console's endpoint comes later); the standard OTEL_EXPORTER_OTLP_* variables; shutdown bounded by its timeout."""

from __future__ import annotations

import logging
import socket
import time

import pytest
from jobtrace_sdk import Jobtrace
from jobtrace_sdk.config import Config
from jobtrace_sdk.testing import CaptureConsole


@pytest.fixture
def console():
    with CaptureConsole(default_rate=1.0) as c:
        yield c


def test_a_declaration_sends_only_the_fields_given_with_the_bearer_token(console):
    jt = Jobtrace(url=console.url, token="jt_declare", namespace="shop")
    declared = jt.declare_job(
        "nightly export",
        schedule="@every 15m",
        timezone="Europe/Paris",
        grace_seconds=120,
        labels={"team": "data", "tier": 1},
    )
    assert declared.ok
    assert declared.status_code == 200
    assert declared.answer["schedule"] == "@every 15m"
    ((path, body),) = console.declarations()
    assert path == "/api/v1/jobs/shop/nightly%20export"
    assert body == {
        "schedule": "@every 15m",
        "timezone": "Europe/Paris",
        "grace_seconds": 120,
        "labels": {"team": "data", "tier": "1"},
    }
    (put,) = [r for r in console.requests if r.method == "PUT"]
    assert put.headers["authorization"] == "Bearer jt_declare"
    assert put.headers["content-type"] == "application/json"
    jt.declare_job("nightly export", owner="data-team", kind="standalone", max_runtime_seconds=3600, namespace="ops")
    path, body = console.declarations()[1]
    assert path == "/api/v1/jobs/ops/nightly%20export"
    assert body == {"kind": "standalone", "max_runtime_seconds": 3600, "owner": "data-team"}
    jt.shutdown(timeout=1)


def test_a_refused_declaration_is_reported_not_raised(console, caplog):
    console.declare_status = 400
    jt = Jobtrace(url=console.url, token="t", namespace="shop")
    with caplog.at_level(logging.WARNING, logger="jobtrace.sdk"):
        declared = jt.declare_job("nightly", schedule="0 25 * * *")
    assert not declared.ok
    assert declared.status_code == 400
    assert "refused by the capture console" in declared.error
    assert "could not declare job shop/nightly: HTTP 400" in caplog.text
    jt.shutdown(timeout=1)


def test_a_declaration_to_a_console_that_is_down_or_unnamed_namespace_fails_softly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    jt = Jobtrace(url=f"http://127.0.0.1:{port}", token="t", namespace="shop")
    declared = jt.declare_job("nightly", schedule="0 2 * * *", timeout=1.0)
    assert not declared.ok
    assert declared.status_code is None
    assert "ConnectionError" in declared.error
    no_namespace = Jobtrace(url=f"http://127.0.0.1:{port}", token="t", namespace="")
    assert "no namespace" in no_namespace.declare_job("nightly", schedule="0 2 * * *").error
    with pytest.raises(TypeError, match="labels"):
        jt.declare_job("nightly", labels=["not", "a", "mapping"])  # type: ignore[arg-type]
    jt.shutdown(timeout=1)
    no_namespace.shutdown(timeout=1)


def test_the_standard_otlp_variables_point_spans_elsewhere_without_our_token(monkeypatch):
    monkeypatch.setenv("JOBTRACE_URL", "http://console:8000")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    config = Config.from_env()
    assert config.otlp_endpoint == "http://collector:4318/v1/traces"
    assert config.traces_headers == {}  # the Jobtrace token is the console's, not the Collector's
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://console:8000/v1/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "none")
    config = Config.from_env()
    assert config.otlp_endpoint == "http://console:8000/v1/traces"
    assert config.traces_headers is None  # the console itself: the bearer token goes with the spans
    assert config.compress_spans is False
    monkeypatch.setenv("JOBTRACE_OTLP_ENDPOINT", "http://mine:4318/v1/traces")
    assert Config.from_env().otlp_endpoint == "http://mine:4318/v1/traces"  # ours wins


def test_spans_reach_the_endpoint_the_otel_variables_name(monkeypatch):
    with CaptureConsole(default_rate=1.0) as records, CaptureConsole() as collector:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-collector-key=k1")
        jt = Jobtrace(url=records.url, token="jt_secret", namespace="shop")
        with jt.execution("nightly"):
            pass
        assert jt.shutdown(timeout=5)
        (span,) = collector.spans()
        assert span["name"] == "nightly"
        (post,) = collector.posted("/v1/traces")
        assert post.headers["x-collector-key"] == "k1"
        assert "authorization" not in post.headers
        assert records.spans() == []
        assert len(records.latest("executions")) == 1


def test_shutdown_keeps_to_its_timeout_with_a_console_that_never_answers():
    with CaptureConsole(default_rate=1.0, delay=30.0) as console:
        jt = Jobtrace(url=console.url, token="t", namespace="shop", policy_timeout=0.2, export_timeout=10.0)
        with jt.execution("nightly", sampled=True):
            pass
        started = time.monotonic()
        assert jt.shutdown(timeout=1.0) is False
        # The promise is the timeout in all (flush + stopping the exporter + closing the sender).
        assert time.monotonic() - started < 1.0 + 0.5
