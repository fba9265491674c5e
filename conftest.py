"""Fixtures shared by every test: personas (owner, teammate, outsider) and API clients."""

from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from jobs.choices import Role
from jobs.models import Namespace
from tests import factories

SHARED_FIXTURES = Path(__file__).resolve().parent.parent / "shared" / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    """The real payloads in ../shared/fixtures (Jaeger, OTLP, Tempo, Zipkin, Alertmanager, Grafana)."""
    if not SHARED_FIXTURES.is_dir():
        pytest.fail(f"shared fixtures not found at {SHARED_FIXTURES}; the repo must sit beside shared/")
    return SHARED_FIXTURES


@pytest.fixture
def ns(db) -> Namespace:
    """The namespace the owner persona works in."""
    return factories.namespace("payments")


@pytest.fixture
def other_ns(db) -> Namespace:
    """Another team's namespace: the outsider's."""
    return factories.namespace("search-team")


@pytest.fixture
def owner(ns):
    return factories.user(ns, Role.ADMIN, username="owner")


@pytest.fixture
def teammate(ns):
    return factories.user(ns, Role.VIEWER, username="teammate")


@pytest.fixture
def outsider(other_ns):
    return factories.user(other_ns, Role.ADMIN, username="outsider")


def _client_with(raw_token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    return client


@pytest.fixture
def api(ns) -> APIClient:
    """A client holding an ingest+read token of the owner's namespace."""
    return _client_with(factories.token(ns, ["ingest", "read"]))


@pytest.fixture
def reader(ns) -> APIClient:
    """A client holding a read-only token of the owner's namespace."""
    return _client_with(factories.token(ns, ["read"]))


@pytest.fixture
def ingester(ns) -> APIClient:
    """A client holding an ingest-only token of the owner's namespace."""
    return _client_with(factories.token(ns, ["ingest"]))


@pytest.fixture
def outsider_api(other_ns) -> APIClient:
    """A client holding an ingest+read token of another namespace."""
    return _client_with(factories.token(other_ns, ["ingest", "read"]))


@pytest.fixture
def anonymous_api() -> APIClient:
    return APIClient()
