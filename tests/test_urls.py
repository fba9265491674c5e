"""Every id in a URL is matched by one converter that refuses NUL: such a URL is a 404, never a server error."""

from __future__ import annotations

import pytest

from tests import factories

PAGES = [
    "/jobs/pay%00ments/nightly/",
    "/jobs/payments/night%00ly/",
    "/jobs/payments/nightly/runs/r%001/",
    "/jobs/payments/nightly/runs/r1/shards/s%000/",
    "/traces/ab%00cd/",
    "/jobs/pay%00ments/nightly/sampling",
]
API = [
    "/api/v1/jobs/payments/night%00ly",
    "/api/v1/jobs/payments/nightly/executions/r%001",
    "/api/v1/jobs/payments/nightly/executions/r1/shards",
    "/api/v1/jobs/payments/night%00ly/sampling",
    "/api/v1/jobs/payments/night%00ly/propagation",
    "/api/v1/jobs/payments/nightly/executions/r%001/causality",
    "/api/v1/traces/ab%00cd",
]


@pytest.fixture
def nightly(ns):
    run = factories.execution(factories.job(ns, "nightly"), "r1", status="failed")
    factories.shard(run, "s0", status="failed")
    return run


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_a_nul_in_a_page_url_is_a_404(client, owner, nightly, path):
    client.force_login(owner)
    assert client.get(path).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("path", API)
def test_a_nul_in_an_api_url_is_a_404(reader, nightly, path):
    expected = 200 if "%00" not in path else 404
    assert reader.get(path).status_code == expected


@pytest.mark.django_db
def test_the_same_urls_without_the_nul_resolve(client, owner, nightly):
    client.force_login(owner)
    for path in PAGES[:4]:
        assert client.get(path.replace("%00", "")).status_code == 200, path


@pytest.mark.django_db
def test_a_label_key_is_data_never_a_lookup(client, owner, ns):
    run = factories.execution(factories.job(ns, "migration"), "r9", status="failed")
    factories.shard(run, "hit", status="failed", labels={"account": "1000002"})
    factories.shard(run, "miss", status="failed", labels={"account": "1000003"})
    client.force_login(owner)
    page = "/jobs/payments/migration/runs/r9/"
    assert "hit" in client.get(page, {"label": "account:1000002"}).content.decode()
    body = client.get(page, {"label": "account__startswith:100"}).content.decode()
    assert 'href="/jobs/payments/migration/runs/r9/shards/hit/"' not in body
    assert 'href="/jobs/payments/migration/runs/r9/shards/miss/"' not in body


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/messages", "/api/v1/alerts/alertmanager", "/api/v1/executions"])
def test_json_nested_too_deeply_is_a_400(api, path):
    body = "[" * 100_000 + "]" * 100_000
    response = api.post(path, body, content_type="application/json")
    assert response.status_code == 400
