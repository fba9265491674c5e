"""Fixtures for the span-ingest tests: a raw token for the owner's namespace and helpers to post OTLP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from tests import factories
from traces.tests import tempo_standin
from traces.tests.tempo_standin import StandIn


@pytest.fixture
def ingest_token(ns) -> str:
    return factories.token(ns, ["ingest", "read"])


@pytest.fixture
def otlp(ingest_token) -> Client:
    """A plain Django test client that sends the owner's ingest token, as an OTLP exporter would."""
    return Client(HTTP_AUTHORIZATION=f"Bearer {ingest_token}")


@pytest.fixture(scope="session")
def tempo_server() -> Iterator[tuple[str, StandIn]]:
    """One Tempo stand-in for the session (traces/tests/tempo_standin.py)."""
    from conftest import SHARED_FIXTURES

    yield from tempo_standin.start(SHARED_FIXTURES)


@pytest.fixture
def tempo(tempo_server, settings) -> Iterator[StandIn]:
    """TEMPO_QUERY_URL pointed at the session's stand-in, reset to answer at once with the v2 API."""
    url, standin = tempo_server
    standin.delay, standin.v2 = 0.0, True
    standin.requests.clear()
    settings.TEMPO_QUERY_URL = url
    settings.JAEGER_QUERY_URL = ""
    yield standin
    standin.delay = 0.0
