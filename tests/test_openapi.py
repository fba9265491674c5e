"""The OpenAPI schema at /api/v1/schema, checked against the live API with schemathesis.

Every operation in the schema (whoever wrote it) is called with generated valid and invalid data, authenticated
with a token of the namespace's own: no 500s, status codes, content types, headers and bodies as documented,
and invalid data rejected. Examples per operation are bounded so the whole file runs in seconds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis import DataGenerationMethod
from schemathesis.checks import ALL_CHECKS
from schemathesis.models import Case
from schemathesis.specs.openapi.checks import ignored_auth, negative_data_rejection

from tests import factories

application = get_wsgi_application()
schema = schemathesis.from_wsgi(
    "/api/v1/schema?format=json",
    application,
    data_generation_methods=[DataGenerationMethod.positive, DataGenerationMethod.negative],
)


def negative_data_rejected(ctx: Any, response: Any, case: Case) -> bool | None:
    """schemathesis' negative_data_rejection, except for what this API (like DRF and django-filter in general)
    deliberately ignores rather than refuses: unknown query parameters, and blank ones (`?limit=`, `?job=`),
    which mean "not given"."""
    documented = {parameter.name for parameter in case.operation.query}
    query = case.query or {}
    if set(query) - documented or any(value in ("", [""]) for value in query.values()):
        return None
    return negative_data_rejection(ctx, response, case)


# ignored_auth replays each request without credentials; test_auth_is_enforced_everywhere does that once per
# operation instead of once per example.
CHECKS = (
    *(check for check in ALL_CHECKS if check not in (ignored_auth, negative_data_rejection)),
    negative_data_rejected,
)


@pytest.fixture
def bearer(db) -> Iterator[dict[str, str]]:
    ns = factories.namespace("payments")
    job = factories.job(ns, "nightly")
    run = factories.execution(job, "run-1", trace_id=factories.trace_id())
    factories.shard(run, "shard-1")
    # The real WSGI handler closes "old" connections at each request's start and end, which inside the test's
    # transaction would close it; Django's test client disconnects the same handlers.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield {"Authorization": f"Bearer {factories.token(ns, ['ingest', 'read'])}"}
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_the_schema_is_openapi_3_and_covers_the_alert_and_lookup_endpoints(client):
    response = client.get("/api/v1/schema?format=json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    for path in ("/api/v1/alerts/alertmanager", "/api/v1/alerts/grafana", "/api/v1/alerts", "/api/v1/lookup"):
        assert path in document["paths"], path
    webhook = document["paths"]["/api/v1/alerts/alertmanager"]["post"]
    assert webhook["security"]
    assert "503" in webhook["responses"]
    assert "bearerAuth" in document["components"]["securitySchemes"]
    declare = document["paths"]["/api/v1/jobs/{namespace}/{job}"]["put"]
    assert {"200", "201", "400"} <= set(declare["responses"])


def _bounded(max_examples: int) -> Any:
    # SCHEMATHESIS_SCALE=10 for a deeper (slower) hunt, SCHEMATHESIS_RANDOM=1 for new data on each run; the
    # default (derandomized, bounded) keeps the file deterministic and well under a minute.
    scale = float(os.environ.get("SCHEMATHESIS_SCALE", "1"))
    return hypothesis_settings(
        max_examples=max(1, int(max_examples * scale)),
        deadline=None,
        database=None,
        derandomize=not os.environ.get("SCHEMATHESIS_RANDOM"),
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def _call_and_check(case: Case, bearer: dict[str, str]) -> None:
    response = case.call(headers=bearer)
    case.validate_response(response, checks=CHECKS)


@schema.include(method="GET").parametrize()
@_bounded(8)
def test_reads_behave_as_the_schema_says(case, bearer):
    _call_and_check(case, bearer)


# Bodies are slow to generate (nested objects); fewer examples keep the file well under a minute.
@schema.exclude(method="GET").parametrize()
@_bounded(5)
def test_writes_behave_as_the_schema_says(case, bearer):
    _call_and_check(case, bearer)


@pytest.mark.django_db
def test_auth_is_enforced_everywhere(client):
    """Every operation of the schema answers 401 to a caller without credentials (the schema itself is public)."""
    document = client.get("/api/v1/schema?format=json").json()
    for path, operations in document["paths"].items():
        url = path
        for name in ("namespace", "job", "execution_id", "trace_id", "correlation_id", "id"):
            url = url.replace("{" + name + "}", "1")
        for method in operations:
            if method in {"get", "post", "put", "patch", "delete"}:
                response = getattr(client, method)(url, content_type="application/json")
                assert response.status_code == 401, (method, path, response.status_code)


@pytest.mark.browser
def test_the_interactive_docs_render_in_chromium_under_the_csp_without_any_cdn(live_server, browser):
    problems: list[str] = []
    requested: list[str] = []
    page = browser.new_page()
    try:
        page.on("request", lambda request: requested.append(request.url))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        response = page.goto(f"{live_server.url}/api/v1/docs")
        assert response is not None
        assert response.status == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
        assert "Jobtrace API" in page.inner_text(".swagger-ui .info .title")
        page.wait_for_selector('[data-path="/api/v1/alerts/alertmanager"]', timeout=10_000)
        assert page.locator(".opblock").count() >= 5
    finally:
        page.close()
    assert not [text for text in problems if "Content Security Policy" in text or "Refused" in text], problems
    assert all(url.startswith(live_server.url) or url.startswith("data:") for url in requested), requested
