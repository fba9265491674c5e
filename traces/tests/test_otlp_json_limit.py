"""OTLP/JSON has its own body limit (OTLP_MAX_JSON_BODY_BYTES, 4 MiB by default; protobuf keeps 20 MiB): decoded,
JSON costs 10-15x its size in Python objects and up to ~40x for hostile shapes, so 20 MiB of it grew a worker by
~300-760 MB (bench/receiver_memory.py measures it)."""

from __future__ import annotations

import gzip
import json

import pytest
from django.test import Client

from tests import factories
from traces.models import Span
from traces.tests.builders import otlp_doc, otlp_span, sid, tid

pytestmark = pytest.mark.django_db


def json_body(spans: int, padding: int = 0) -> bytes:
    trace = tid()
    attributes = {"padding": "x" * padding} if padding else {}
    return json.dumps(
        otlp_doc(("checkout", [otlp_span(trace, sid(), attrs=attributes) for _ in range(spans)]))
    ).encode()


def post(client: Client, token: str, body: bytes, **extra):
    return client.post(
        "/v1/traces", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}", **extra
    )


def test_an_otlp_json_body_past_its_limit_is_a_413_naming_it_and_stores_nothing(ns, settings):
    assert settings.OTLP_MAX_JSON_BODY_BYTES == 4 * 1024 * 1024 < settings.OTLP_MAX_BODY_BYTES
    token = factories.token(ns, ["ingest"])
    body = json_body(40, padding=110_000)  # ~4.4 MiB
    assert settings.OTLP_MAX_JSON_BODY_BYTES < len(body) < settings.OTLP_MAX_BODY_BYTES
    response = post(Client(), token, body)
    assert response.status_code == 413
    assert response.json() == {
        "code": 8,
        "message": f"The request body exceeds {4 * 1024 * 1024} bytes (compressed or inflated).",
    }
    assert Span.objects.count() == 0


def test_gzipped_otlp_json_is_held_to_the_json_limit_once_inflated(ns):
    token = factories.token(ns, ["ingest"])
    body = gzip.compress(json_body(40, padding=110_000))  # compresses to a few KiB
    response = post(Client(), token, body, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert Span.objects.count() == 0


def test_otlp_json_under_its_limit_is_stored(ns):
    token = factories.token(ns, ["ingest"])
    body = json_body(30, padding=100_000)  # ~3 MiB
    response = post(Client(), token, body)
    assert response.status_code == 200, response.content[:300]
    assert Span.objects.filter(namespace=ns).count() == 30
