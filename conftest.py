"""Fixtures shared by every test: personas (owner, teammate, outsider) and API clients."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from jobs.choices import Role
from jobs.models import Namespace
from tests import factories

SHARED_FIXTURES = Path(__file__).resolve().parent.parent / "shared" / "fixtures"

# Real peers started once per run (the console under gunicorn, and what the tests point at it).
pytest_plugins = ["tests.peers.fixtures"]


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    """Rate-limit counters live in the process (console/limits.py): every test starts with full buckets, so the
    suite's many requests from 127.0.0.1 (and its 401 checks) never add up to a 429."""
    from console.limits import buckets

    buckets.clear()


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


CHROMIUM = os.environ.get("JOBTRACE_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium (Debian's) for the whole run, driven by Playwright; `make test` installs it.

    Playwright's sync API runs an event loop in this thread, so there must be exactly one of it per process:
    every browser test takes this fixture instead of starting its own.
    """
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM} (`make test` installs it through `make browser`)"
        if os.environ.get("CI"):
            pytest.fail(message)  # in CI a missing browser is a broken set-up, never a silent green
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # The ORM calls the tests make meanwhile are plain synchronous calls, which Django would otherwise refuse
    # while Playwright's loop is running.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
