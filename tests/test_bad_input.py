"""Hostile input on every API that lists or ingests: a clear 4xx naming what was wrong, never a 500, nothing stored.

Forged list cursors, times out of range or with trailing garbage, bodies over the size limit (one mechanism for
every JSON endpoint: jobs/api/parsers.py and jobs/api/errors.py), and ids holding `/`, which stay reachable
(console/converters.py).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from jobs.models import Job
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
