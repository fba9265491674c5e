"""Fixtures for the log tests: an ingest token for the owner's namespace and a client that sends it."""

from __future__ import annotations

import pytest
from django.test import Client

from tests import factories


@pytest.fixture
def ingest_token(ns) -> str:
    return factories.token(ns, ["ingest", "read"])


@pytest.fixture
def otlp(ingest_token) -> Client:
    """A plain Django test client that sends the owner's ingest token, as an OTLP exporter would."""
    return Client(HTTP_AUTHORIZATION=f"Bearer {ingest_token}")
