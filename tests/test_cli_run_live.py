"""`jobtrace run` end to end against the live console (gunicorn on the test database): a Python child that reads
TRACEPARENT and exports its own spans with the OpenTelemetry SDK is linked to the execution the wrapper recorded;
a failing shell script is recorded with its exit code and stderr. (The wrapper's behaviour in detail, signals,
timeouts, a console down, is tested without Django in sdk/tests/test_cli_run.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

JOBTRACE = str(Path(sys.executable).with_name("jobtrace"))

# A child in "any language": plain OpenTelemetry SDK, no Jobtrace code. Its exporter is configured by the standard
# OTEL_EXPORTER_OTLP_* variables; its parent is the TRACEPARENT the wrapper handed it.
OTEL_CHILD = """
import os, sys
from opentelemetry import baggage, propagate
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

provider = TracerProvider(resource=Resource.create({"service.name": "export-worker"}))
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("export-worker")
carrier = {name.lower(): os.environ[name] for name in ("TRACEPARENT", "TRACESTATE", "BAGGAGE") if name in os.environ}
parent = propagate.extract(carrier)
with tracer.start_as_current_span("export orders", context=parent) as span:
    span.set_attribute("orders", 3)
    span.set_attribute("seen.execution", str(baggage.get_baggage("job.execution.id", parent)))
    with tracer.start_as_current_span("write orders.csv"):
        print("exported 3 orders")
provider.shutdown()
"""


def _env(url: str, token: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBTRACE_", "OTEL_", "TRACE", "BAGGAGE"))}
    env.update(
        {
            "JOBTRACE_URL": url,
            "JOBTRACE_TOKEN": token,
            "JOBTRACE_NAMESPACE": "payments",
            "OTEL_EXPORTER_OTLP_ENDPOINT": url,
            "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization={quote('Bearer ' + token)}",
            **extra,
        }
    )
    return env


def test_a_python_child_continues_the_execution_trace_and_the_console_links_its_spans(live_console, ns, api):
    token = factories.token(ns, ["ingest"])
    done = subprocess.run(
        [JOBTRACE, "run", "--job", "nightly-export", "--execution-id", "exp-1", "--", sys.executable, "-c", OTEL_CHILD],
        env=_env(live_console.url, token),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"exported 3 orders\n"
    assert done.stderr == b""  # nothing of ours: every record and span got through

    execution = api.get("/api/v1/jobs/payments/nightly-export/executions/exp-1").json()
    assert execution["status"] == "succeeded"
    assert execution["trigger"] == "scheduled"
    assert execution["sampled"] is True
    assert execution["duration_ms"] is not None
    assert execution["worker"]

    trace = api.get(f"/api/v1/traces/{execution['trace_id']}").json()
    assert trace["execution"]["execution_id"] == "exp-1"
    spans = {s["name"]: s for s in trace["spans"]}
    assert set(spans) == {"nightly-export", "export orders", "write orders.csv"}
    root, child, grandchild = spans["nightly-export"], spans["export orders"], spans["write orders.csv"]
    assert root["service"] == "jobtrace-run"
    assert child["service"] == "export-worker"
    assert child["parent_span_id"] == root["span_id"]
    assert grandchild["parent_span_id"] == child["span_id"]
    assert child["attributes"]["seen.execution"] == "exp-1"  # the job marks reached the child as baggage
    assert {s["execution_id"] for s in trace["spans"]} == {"exp-1"}
    found = api.get("/api/v1/traces", {"job": "nightly-export", "service": "export-worker"}).json()["results"]
    assert [t["trace_id"] for t in found] == [execution["trace_id"]]


def test_a_failing_script_is_recorded_with_its_exit_code_and_stderr(live_console, ns, api, tmp_path):
    token = factories.token(ns, ["ingest"])
    script = tmp_path / "settle.sh"
    script.write_text("echo 'settling 2 accounts'\necho 'account 1000002: value too long' >&2\nexit 3\n")
    done = subprocess.run(
        [JOBTRACE, "run", "--job", "settlement", "--execution-id", "set-1", "--", "sh", str(script)],
        env=_env(live_console.url, token),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3
    assert done.stdout == b"settling 2 accounts\n"
    assert done.stderr == b"account 1000002: value too long\n"
    execution = api.get("/api/v1/jobs/payments/settlement/executions/set-1").json()
    assert execution["status"] == "failed"
    assert execution["error"].startswith("exit code 3\n")
    assert execution["error"].endswith("account 1000002: value too long\n")
    failed = api.get("/api/v1/executions", {"status": "failed", "job": "settlement"}).json()["results"]
    assert [e["execution_id"] for e in failed] == ["set-1"]


def test_a_token_of_another_namespace_is_refused_and_the_job_still_runs(live_console, ns, other_ns, api):
    outsider_token = factories.token(other_ns, ["ingest"])
    done = subprocess.run(
        [JOBTRACE, "run", "--job", "nightly-export", "--execution-id", "x-1", "--", "sh", "-c", "exit 0"],
        env=_env(live_console.url, outsider_token),  # names namespace payments with search-team's token
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    (warning,) = done.stderr.decode().splitlines()
    assert warning.startswith("jobtrace: warning: could not fully report nightly-export run x-1")
    assert api.get("/api/v1/jobs/payments/nightly-export/executions/x-1").status_code == 404


def test_a_run_with_a_schedule_declares_the_job_with_it(live_console, ns, api):
    token = factories.token(ns, ["ingest"])
    done = subprocess.run(
        [
            JOBTRACE,
            "run",
            "--job",
            "every-five",
            "--schedule",
            "*/5 * * * *",
            "--timezone",
            "Europe/Berlin",
            "--grace",
            "2m",
            "--timeout",
            "10m",
            "--",
            "true",
        ],
        env=_env(live_console.url, token),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""  # the declaration was accepted
    job = api.get("/api/v1/jobs/payments/every-five").json()
    assert (job["schedule"], job["timezone"]) == ("*/5 * * * *", "Europe/Berlin")
    assert (job["grace_seconds"], job["max_runtime_seconds"]) == (120, 600)
    (run,) = api.get("/api/v1/executions", {"job": "every-five"}).json()["results"]
    assert run["status"] == "succeeded"
