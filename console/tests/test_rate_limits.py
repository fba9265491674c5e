"""Rate limits on the API and the OTLP receiver (console/limits.RateLimitMiddleware): per client address, per
bearer token, and per address for requests answered 401 (bad-token floods), each a 429 with Retry-After before any
database work; limits per process, settings-driven."""

from __future__ import annotations

import pytest
from django.test import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from tests import factories

PB = "application/x-protobuf"
EMPTY_EXPORT = ExportTraceServiceRequest(resource_spans=[ResourceSpans()]).SerializeToString()  # no spans
pytestmark = pytest.mark.django_db


def otlp(client: Client, token: str | None, address: str = "127.0.0.1", **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post("/v1/traces", EMPTY_EXPORT, content_type=PB, REMOTE_ADDR=address, **headers, **extra)


def api(client: Client, token: str, address: str = "127.0.0.1"):
    return client.get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR=address)


def test_a_bad_token_flood_is_refused_429_after_the_allowed_failures_and_the_address_waits(ns, settings):
    settings.JOBTRACE_RATE_LIMIT_AUTH_FAILURES = (5, 60.0)
    client = Client()
    good = factories.token(ns, ["ingest"])
    answers = [otlp(client, f"wrong-{i}").status_code for i in range(5)]
    assert answers == [401] * 5
    refused = otlp(client, "wrong-again")
    assert refused.status_code == 429
    assert refused["Content-Type"] == PB  # an OTLP Status, as the exporter expects
    assert 1 <= int(refused["Retry-After"]) <= 12  # one failure's worth of the minute's five
    # The address is refused even with a good token until the bucket refills; another address is not.
    assert otlp(client, good).status_code == 429
    assert otlp(client, good, address="127.0.0.2").status_code == 200
    # No token at all counts as a failure too (the flood need not guess tokens).
    for _ in range(5):
        assert otlp(client, None, address="127.0.0.3").status_code == 401
    assert otlp(client, None, address="127.0.0.3").status_code == 429


def test_a_token_past_its_rate_is_429_with_retry_after_and_other_tokens_are_not_held(ns, other_ns, settings):
    settings.JOBTRACE_RATE_LIMIT_PER_TOKEN = (3, 60.0)
    client = Client()
    owner = factories.token(ns, ["read"])
    outsider = factories.token(other_ns, ["read"])
    assert [api(client, owner).status_code for _ in range(3)] == [200] * 3
    refused = api(client, owner)
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("Too many requests with this token")
    assert int(refused["Retry-After"]) == 20  # one request of three per minute
    assert api(client, outsider).status_code == 200
    # The receiver counts the same token: an ingest token past its rate is refused there too.
    ingest = factories.token(ns, ["ingest"])
    assert [otlp(client, ingest).status_code for _ in range(3)] == [200] * 3
    assert otlp(client, ingest).status_code == 429


def test_an_address_past_its_rate_is_429_whatever_the_tokens(ns, settings):
    settings.JOBTRACE_RATE_LIMIT_PER_ADDRESS = (4, 1.0)
    client = Client()
    tokens = [factories.token(ns, ["read"]) for _ in range(5)]
    answers = [api(client, t, address="127.0.0.9").status_code for t in tokens]
    assert answers == [200, 200, 200, 200, 429]
    assert api(client, tokens[0], address="127.0.0.10").status_code == 200


def test_behind_a_trusted_proxy_the_address_is_the_one_the_proxy_saw_not_what_the_client_wrote(ns, settings):
    settings.JOBTRACE_RATE_LIMIT_AUTH_FAILURES = (2, 60.0)
    settings.JOBTRACE_TRUSTED_PROXY_COUNT = 1
    client = Client()
    forged = {"HTTP_X_FORWARDED_FOR": "1.2.3.4, 127.0.0.44"}  # the client wrote 1.2.3.4; the proxy appended its peer
    for _ in range(2):
        assert otlp(client, "wrong", address="127.0.0.1", **forged).status_code == 401
    assert otlp(client, "wrong", address="127.0.0.1", **forged).status_code == 429
    # Another client behind the same proxy is someone else.
    assert otlp(client, "wrong", address="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.45").status_code == 401


def test_pages_are_not_rate_limited_and_limits_can_be_turned_off(ns, settings):
    settings.JOBTRACE_RATE_LIMIT_PER_ADDRESS = (1, 60.0)
    client = Client()
    assert [client.get("/healthz").status_code for _ in range(3)] == [200] * 3
    settings.JOBTRACE_RATE_LIMIT_PER_ADDRESS = None
    token = factories.token(ns, ["read"])
    assert [api(client, token).status_code for _ in range(3)] == [200] * 3
