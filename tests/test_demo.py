"""`manage.py demo` at small scale: real workloads through the SDK and the OTLP exporter into a console started
in-process; the incidents of DESIGN.md are then found through the API as a responder would find them."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from jobs.models import ApiToken, Execution, Job, Namespace, Shard

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# The demo runs once (about 10 s at small scale); each scenario is checked as a subtest of that one run.


def _client(namespace: str) -> APIClient:
    client = APIClient()
    raw = ApiToken.issue(Namespace.objects.get(name=namespace), ["read"])[1]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _all(client: APIClient, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.get(url, {**params, "limit": 1000})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def _self_time_ns(spans: list[dict[str, Any]]) -> dict[str, int]:
    children: dict[str, int] = {}
    for span in spans:
        if span["parent_span_id"]:
            children[span["parent_span_id"]] = children.get(span["parent_span_id"], 0) + span["duration_ns"]
    return {s["span_id"]: s["duration_ns"] - children.get(s["span_id"], 0) for s in spans}


def check_the_failing_shard_is_found_by_its_account_label_and_its_trace_shows_the_validation_error(
    demo_output: str,
) -> None:
    payments = _client("payments")
    failed = _all(payments, "/api/v1/executions", {"job": "account-migration", "status": "failed"})
    (run,) = failed
    shards_url = f"/api/v1/jobs/payments/account-migration/executions/{run['execution_id']}/shards"
    (shard,) = _all(payments, shards_url, {"label": "account:1000002"})
    assert shard["status"] == "failed"
    assert "FieldLengthValidationError" in shard["error"]
    assert [s["shard_id"] for s in _all(payments, shards_url, {"status": "failed"})] == ["acct-1000002"]
    trace = payments.get(f"/api/v1/traces/{shard['trace_id']}").json()
    assert trace["shard"]["shard_id"] == "acct-1000002"
    errors = [s for s in trace["spans"] if s["service"] == "account-service" and s["events"]]
    (validator,) = [s for s in errors if s["name"] == "AccountValidator.validate"]
    (event,) = validator["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"].endswith("FieldLengthValidationError")
    assert "display_name" in event["attributes"]["exception.message"]
    assert "validate_account_fields" in event["attributes"]["exception.stacktrace"]
    assert validator["status"]["code"] == "error"
    # Trace per shard: the shard's root links back to the execution's span.
    root = next(s for s in trace["spans"] if not s["parent_span_id"])
    assert root["links"][0]["trace_id"] == run["trace_id"]


def check_the_nightly_export_jumps_past_fifteen_seconds_because_of_user_info_save(demo_output: str) -> None:
    shop = _client("shop")
    runs = _all(shop, "/api/v1/executions", {"job": "nightly-export", "trigger": "scheduled"})
    durations = sorted((r["started_at"], r["duration_ms"]) for r in runs)
    assert len(durations) >= 4
    assert all(ms < 5000 for _, ms in durations[:2])
    assert all(ms > 15000 for _, ms in durations[-2:])
    slow = max(runs, key=lambda r: r["started_at"])
    trace = shop.get(f"/api/v1/traces/{slow['trace_id']}").json()
    assert trace["execution"]["execution_id"] == slow["execution_id"]
    spans = trace["spans"]
    self_time = _self_time_ns(spans)
    hottest = max(spans, key=lambda s: self_time[s["span_id"]])
    assert (hottest["service"], hottest["name"]) == ("ServiceApplication", "userInfoSave")


def check_the_http_task_service_without_sdk_joins_the_trace_and_its_user_traffic_is_told_apart(
    demo_output: str,
) -> None:
    shop = _client("shop")
    runs = _all(shop, "/api/v1/executions", {"job": "inventory-sync"})
    assert {r["status"] for r in runs} == {"succeeded", "failed"}
    ok = next(r for r in runs if r["status"] == "succeeded")
    spans = shop.get(f"/api/v1/traces/{ok['trace_id']}").json()["spans"]
    remote = [s for s in spans if s["service"] == "inventory-service"]
    assert remote
    assert {s["attributes"]["traffic.origin"] for s in remote} == {"scheduler"}
    assert {s["attributes"]["job.execution.id"] for s in remote} == {ok["execution_id"]}
    user = _all(shop, "/api/v1/traces", {"service": "inventory-service", "attr": "traffic.origin:user"})
    assert user
    assert all(t["execution"] is None for t in user)


def check_an_order_workflow_walks_from_the_job_back_to_the_request_and_forward(demo_output: str) -> None:
    shop = _client("shop")
    (run, *_) = _all(shop, "/api/v1/executions", {"job": "order-fulfilment"})
    envelope = run["envelope"]
    assert envelope["event_type"] == "order.created"
    correlation = envelope["correlation_id"]
    assert correlation.startswith("req-")
    messages = _all(shop, "/api/v1/messages", {"correlation_id": correlation})
    by_type = {m["event_type"]: m for m in messages}
    assert by_type["order.created"]["causation_id"] == correlation
    assert by_type["order.fulfilled"]["causation_id"] == by_type["order.created"]["message_id"]
    # Back: the request's trace is the one the envelope names; forward: the confirmation job it caused.
    request_trace = shop.get(f"/api/v1/traces/{envelope['trace_id']}").json()
    assert any(s["name"] == "POST /orders" for s in request_trace["spans"])
    confirmations = _all(shop, "/api/v1/executions", {"correlation_id": correlation})
    assert {r["job"] for r in confirmations} == {"order-fulfilment", "send-order-confirmation"}


def check_background_jobs_are_healthy_and_sampling_shows_on_their_runs(demo_output: str) -> None:
    warmups = Execution.objects.filter(job__name="cache-warmup")
    assert warmups.filter(trigger="manual", sampled=True).exists()
    assert warmups.filter(trigger="scheduled", sampled=False).exists()
    assert not warmups.exclude(status="succeeded").exists()
    assert Job.objects.get(name="cache-warmup").sample_rate == 0.1
    reconcile = Execution.objects.filter(job__name="ledger-reconcile")
    assert reconcile.filter(trigger="retry", attempt=2, status="succeeded").exists()
    assert "executions" in demo_output
    assert "failing shard: /jobs/payments/account-migration/runs/" in demo_output


def check_the_incidents_alerts_arrived_through_the_alertmanager_webhook_and_link_their_runs(
    demo_output: str,
) -> None:
    from jobs.alerts.models import Alert

    assert "alerts posted to /api/v1/alerts/alertmanager" in demo_output
    payments = _client("payments")
    alerts = {a["labels"]["job"]: a for a in _all(payments, "/api/v1/alerts", {})}
    migration = alerts["account-migration"]
    assert (migration["status"], migration["source"]) == ("firing", "alertmanager")
    (linked,) = migration["executions"]
    assert (linked["status"], linked["shard_id"]) == ("failed", "acct-1000002")
    assert linked["shard_url"].endswith("/shards/acct-1000002/")
    assert alerts["ledger-reconcile"]["status"] == "resolved"
    shop = {a["labels"]["job"]: a for a in _all(_client("shop"), "/api/v1/alerts", {})}
    assert shop["nightly-export"]["name"] == "JobRunSlow"
    assert shop["nightly-export"]["executions"][0]["status"] == "succeeded"
    assert shop["inventory-sync"]["status"] == "resolved"
    assert Alert.objects.filter(receiver="jobtrace").count() == 4


def check_if_empty_does_nothing_once_jobs_exist(demo_output: str) -> None:
    before = Execution.objects.count()
    out = StringIO()
    call_command("demo", "--scale", "small", "--if-empty", stdout=out)
    assert "nothing to do" in out.getvalue()
    assert Execution.objects.count() == before


def check_the_failing_shards_last_log_lines_say_why_it_failed(demo_output: str) -> None:
    from traces.logs.models import LogRecord

    shard = Shard.objects.get(shard_id="acct-1000002", status="failed")
    lines = list(LogRecord.objects.filter(shard=shard).order_by("time_ns").values_list("severity_number", "body"))
    assert lines, "the failing shard has no log lines"
    severity, body = lines[-1]
    assert severity == 17
    assert "display_name has 72 characters" in body
    assert "migrating account 1000002" in lines[0][1]


CHECKS = [
    check_the_failing_shard_is_found_by_its_account_label_and_its_trace_shows_the_validation_error,
    check_the_failing_shards_last_log_lines_say_why_it_failed,
    check_the_nightly_export_jumps_past_fifteen_seconds_because_of_user_info_save,
    check_the_http_task_service_without_sdk_joins_the_trace_and_its_user_traffic_is_told_apart,
    check_an_order_workflow_walks_from_the_job_back_to_the_request_and_forward,
    check_background_jobs_are_healthy_and_sampling_shows_on_their_runs,
    check_the_incidents_alerts_arrived_through_the_alertmanager_webhook_and_link_their_runs,
    check_if_empty_does_nothing_once_jobs_exist,
]


def test_the_demo_replays_every_incident_and_each_is_found_through_the_api(subtests):
    out = StringIO()
    call_command("demo", "--scale", "small", "--seed", "7", stdout=out)
    assert "0 records could not be posted" not in out.getvalue()
    assert "could not be posted" not in out.getvalue()
    for check in CHECKS:
        with subtests.test(msg=check.__name__.removeprefix("check_").replace("_", " ")):
            check(out.getvalue())


def _replay(seed: int) -> list[tuple[Any, ...]]:
    from datetime import UTC, datetime

    from jobtrace_sdk.testing import CaptureConsole

    from jobs.demo.runner import Demo

    with CaptureConsole(default_rate=0.5) as console:
        end = datetime(2026, 3, 2, 12, tzinfo=UTC)
        Demo(console.url, {"shop": "t1", "payments": "t2"}, seed=seed, scale="small", end=end).run()
        executions = console.latest("executions")
        shards = console.latest("shards", key="shard_id")
    return sorted(
        [
            (e["job"], e["execution_id"], e["trace_id"], e["sampled"], e["status"], e["finished_at"])
            for e in executions.values()
        ]
        + [(s["execution_id"], s["shard_id"], s["trace_id"], s["span_id"], s["status"]) for s in shards.values()]
    )


@pytest.mark.django_db(transaction=False)
def test_the_demo_is_deterministic_for_a_seed():
    first, again, other = _replay(3), _replay(3), _replay(4)
    assert first == again
    assert first != other
    assert len(first) > 50
