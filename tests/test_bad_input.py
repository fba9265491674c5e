"""Hostile input on every API that lists or ingests: a clear 4xx naming what was wrong, never a 500, nothing stored.

Forged list cursors, times out of range or with trailing garbage, bodies over the size limit (one mechanism for
every JSON endpoint: jobs/api/parsers.py and jobs/api/errors.py), and ids holding `/`, which stay reachable
(console/converters.py).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings as django_settings

from jobs.models import Execution, Job, Message
from tests import factories
from tests import factories_alerts as fa

pytestmark = pytest.mark.django_db


def _cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def lists(api, ns) -> list[str]:
    """Every cursor-paginated list, each with something in it."""
    run = factories.execution(factories.job(ns, "etl"), "run-1")
    factories.shard(run, "s-1")
    assert api.post("/api/v1/messages", [{"message_id": "m-1"}], format="json").status_code == 200
    alert = fa.alert({"job": "etl"}, datetime(2026, 3, 1, tzinfo=UTC))
    assert api.post("/api/v1/alerts/alertmanager", fa.notification(alert), format="json").status_code == 200
    return [
        "/api/v1/jobs",
        "/api/v1/executions",
        "/api/v1/jobs/payments/etl/executions/run-1/shards",
        "/api/v1/messages",
        "/api/v1/alerts",
    ]


FORGED_CURSORS = [
    _cursor("p=abc"),  # text where the ordering field is an integer (a ValueError, a 500)
    _cursor("p=a\x00b"),  # a NUL (PostgreSQL's DataError, a 500)
    _cursor("p=99999999999999999999999"),  # beyond a bigint
    _cursor("o=5&r=1&p=1e3"),
    _cursor("r=yes"),  # DRF's own refusals were 404s
    "not base64 at all!",
    _cursor("p=abc") + ":forged-signature",
]


@pytest.mark.parametrize("cursor", FORGED_CURSORS)
def test_a_forged_cursor_on_any_list_is_a_400_naming_the_cursor(api, lists, cursor):
    for path in lists:
        response = api.get(path, {"cursor": cursor})
        assert response.status_code == 400, (path, response.content[:300])
        assert "cursor" in response.json(), path


def test_the_cursors_a_list_hands_out_still_work(api, ns, lists):
    job = Job.objects.get(namespace=ns, name="etl")
    for i in range(3):
        factories.execution(job, f"more-{i}")
        factories.job(ns, f"job-{i}")
    for path in ["/api/v1/jobs", "/api/v1/executions"]:  # ordered by name, by id
        first = api.get(path, {"limit": 1}).json()
        second = api.get(first["next"])
        assert second.status_code == 200, path
        back = api.get(second.json()["previous"])
        assert back.status_code == 200, path
        assert back.json()["results"] == first["results"], path
        cursor = parse_qs(urlsplit(first["next"]).query)["cursor"][0]
        edited = _cursor("p=0") + cursor[cursor.index(":") :]  # another position under the same signature
        assert api.get(path, {"cursor": edited}).status_code == 400, path


BAD_TIMES = [
    "9999999d",  # beyond any date (OverflowError: a 500 on the trace list)
    "999999d",
    "999999w",
    "0001-01-01T00:00:00+01:00",  # before the year 1 in UTC
    "2026-03-01T00:00:00Z\x00garbage",  # a NUL and garbage after a time
    "2026-02-30",
    "50%d",  # a % in the value, which the message quotes, must not be read as a format
]


@pytest.mark.parametrize("value", BAD_TIMES)
def test_a_bad_time_is_a_400_naming_the_filter_and_worded_alike_on_every_list(reader, value):
    answers = {
        path: reader.get(path, {name: value})
        for path in ["/api/v1/traces", "/api/v1/executions", "/api/v1/alerts"]
        for name in ["since", "until"]
    }
    messages = set()
    for path, response in answers.items():
        assert response.status_code == 400, (path, value, response.content[:300])
        body = response.json()
        errors = body.get("errors", body)  # the trace search wraps DRF's filter errors in `errors`, with `detail`
        (name,) = errors
        assert name in ("since", "until")
        messages.add(errors[name][0])
    assert len(messages) == 1, messages  # one reading of times, one message


def test_times_far_ahead_or_behind_are_answered_not_refused(reader):
    for value in ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "0001-01-01", "99999999999", "999999s"]:
        for path in ["/api/v1/traces", "/api/v1/executions", "/api/v1/alerts"]:
            assert reader.get(path, {"since": value}).status_code == 200, (path, value)
            assert reader.get(path, {"until": value}).status_code == 200, (path, value)


def _over(limit: int) -> bytes:
    """A JSON body of one item just over `limit` bytes."""
    return json.dumps([{"message_id": "m-1", "event_type": "x" * limit}]).encode()


JSON_ENDPOINTS = [
    ("post", "/api/v1/executions"),
    ("post", "/api/v1/shards"),
    ("post", "/api/v1/messages"),
    ("post", "/api/v1/alerts/alertmanager"),
    ("post", "/api/v1/alerts/grafana"),
    ("put", "/api/v1/jobs/payments/etl/sampling"),
]


@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
def test_a_body_over_the_limit_is_a_413_in_the_records_error_shape_on_any_json_endpoint(
    api, ns, settings, method, path
):
    factories.job(ns, "etl")
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4000
    response = getattr(api, method)(path, _over(4000), content_type="application/json")
    assert response.status_code == 413, response.content[:300]
    body = response.json()
    assert body["errors"][0]["index"] is None
    assert body["errors"][0]["field"] is None
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in body["errors"][0]["message"] == body["detail"]
    assert not Message.objects.exists()
    assert not Execution.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_body_over_the_default_limit_is_a_413_through_gunicorn(live_console):
    ns = factories.namespace("big-bodies")
    token = factories.token(ns, ["ingest"])
    body = _over(django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE)  # JOBTRACE_MAX_REQUEST_BYTES, as the server has it
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for path in ["/api/v1/messages", "/api/v1/alerts/alertmanager", "/api/v1/executions"]:
        response = requests.post(f"{live_console.url}{path}", data=body, headers=headers, timeout=30)
        assert response.status_code == 413, (path, response.status_code, response.text[:200])
        assert response.json()["errors"][0]["message"].startswith("The body is larger than"), path
    assert not Message.objects.filter(namespace=ns).exists()


GARBAGE_TIME = "2026-03-01T00:00:00Z\u0000garbage"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/executions", {"job": "etl", "execution_id": "1", "started_at": GARBAGE_TIME}, "started_at"),
        (
            "/api/v1/shards",
            [{"job": "etl", "execution_id": "1", "shard_id": "a", "finished_at": GARBAGE_TIME}],
            "finished_at",
        ),
        ("/api/v1/messages", [{"message_id": "m", "published_at": GARBAGE_TIME}], "published_at"),
        ("/api/v1/messages", [{"message_id": "m", "consumed_at": "2026-03-01T00:00:00+00:00 trailing"}], "consumed_at"),
    ],
)
def test_a_timestamp_with_anything_after_it_is_refused_naming_the_field(api, path, body, field):
    response = api.post(path, body, format="json")
    assert response.status_code == 400, response.content[:300]
    (error,) = response.json()["errors"]
    assert error["field"] == field
    assert "RFC 3339" in error["message"]
    assert not Execution.objects.exists()
    assert not Message.objects.exists()


@pytest.mark.parametrize("endpoint", ["alertmanager", "grafana"])
@pytest.mark.parametrize("name", ["startsAt", "endsAt"])
def test_an_alert_time_with_anything_after_it_is_refused_naming_the_field(api, endpoint, name):
    alert = fa.alert({"job": "etl"}, datetime(2026, 3, 1, tzinfo=UTC))
    alert[name] = GARBAGE_TIME
    response = api.post(f"/api/v1/alerts/{endpoint}", fa.notification(alert), format="json")
    assert response.status_code == 400, response.content[:300]
    assert f"alerts[0].{name}" in response.json()["errors"]


# Ids holding `/`, `%` and dots: escaped once more in URLs (console/converters.py), so each stays one path segment.
ODD_IDS = [("etl/daily", "run/1", "part/7"), ("50%/x", "..", "."), ("a%2Fb", "%25", "x/../y")]


def _store_odd(api, job: str, run: str, shard: str) -> dict:
    trace_id = factories.trace_id()
    execution = {"job": job, "execution_id": run, "status": "failed", "trace_id": trace_id}
    posted = api.post("/api/v1/executions", execution, format="json")
    assert posted.status_code == 200, posted.content
    shards = api.post("/api/v1/shards", [{"job": job, "execution_id": run, "shard_id": shard}], format="json")
    assert shards.status_code == 200, shards.content
    return {"execution": posted.json()["results"][0]["url"], "shard": shards.json()["results"][0]["url"]}


@pytest.mark.parametrize(("job", "run", "shard"), ODD_IDS)
def test_ids_holding_a_slash_are_reachable_on_every_api_detail_and_nowhere_else(api, outsider_api, job, run, shard):
    from django.urls import reverse

    _store_odd(api, job, run, shard)
    ids = {"namespace": "payments", "job": job}
    details = [
        reverse("api-job", kwargs=ids),
        reverse("api-job-sampling", kwargs=ids),
        reverse("api-execution", kwargs={**ids, "execution_id": run}),
        reverse("api-execution-shards", kwargs={**ids, "execution_id": run}),
    ]
    for path in details:
        assert "%2F" not in path.replace("%252F", ""), path  # never a bare encoded slash: servers decode it
        response = api.get(path)
        assert response.status_code == 200, (path, response.content[:200])
        assert outsider_api.get(path).status_code == 404, path
    assert api.get(details[2]).json()["execution_id"] == run
    assert [s["shard_id"] for s in api.get(details[3]).json()["results"]] == [shard]
    listed = api.get("/api/v1/executions", {"job": job}).json()["results"]
    assert [(e["job"], e["execution_id"]) for e in listed] == [(job, run)]
    assert api.get(listed[0]["url"]).status_code in (302, 200)  # a page: the API client is not signed in


@pytest.mark.django_db(transaction=True)
def test_an_id_holding_a_slash_is_reachable_through_gunicorn(live_console):
    ns = factories.namespace("slashes")
    token = factories.token(ns, ["ingest", "read"])
    headers = {"Authorization": f"Bearer {token}"}
    body = {"job": "etl/daily", "execution_id": "run/1"}
    posted = requests.post(f"{live_console.url}/api/v1/executions", json=body, headers=headers, timeout=10)
    assert posted.status_code == 200, posted.text
    assert posted.json()["results"][0]["url"] == "/jobs/slashes/etl%252Fdaily/runs/run%252F1/"
    detail = f"{live_console.url}/api/v1/jobs/slashes/etl%252Fdaily/executions/run%252F1"
    response = requests.get(detail, headers=headers, timeout=10)
    assert response.status_code == 200, response.text[:200]
    assert (response.json()["job"], response.json()["execution_id"]) == ("etl/daily", "run/1")
