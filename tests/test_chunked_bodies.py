"""Request bodies sent with `Transfer-Encoding: chunked` and no Content-Length (console/chunked.py): read whole
under gunicorn and under Django's own servers (runserver, the demo's), held to the same limits, and never
answered 200 when they were not read."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import io
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.test import Client

from console.chunked import ChunkedFramingError, decode_chunked
from jobs.demo.server import serve_console
from jobs.models import Execution
from tests import factories
from traces.models import Span

CHECKOUT_PB = "otlp_protobuf/otlp_checkout_6spans_5services_error_status.ExportTraceServiceRequest.pb"


def _chunks(body: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


def _post_chunked(url: str, path: str, body: bytes, headers: dict[str, str], size: int = 1000):
    """POST with http.client's own chunked encoding: no Content-Length header at all. A server that refuses a body
    past its limit may answer and close before the client has sent it all (the write then fails with a broken
    pipe): its answer is read all the same, as an exporter's HTTP client reads it."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        with contextlib.suppress(BrokenPipeError):  # the answer, if the server sent one, waits in the socket
            conn.request("POST", path, body=_chunks(body, size), headers=headers, encode_chunked=True)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --- the framing, without a server -------------------------------------------------------------------------


def test_a_chunked_body_decodes_with_extensions_and_trailers():
    raw = b"4;name=value\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\nNEXT"
    stream = io.BytesIO(raw)
    assert decode_chunked(stream, 1000) == (b"Wikipedia in\r\n\r\nchunks.", True)
    assert stream.read() == b"NEXT"  # the next request on the connection is left untouched


def test_a_chunked_body_past_the_limit_stops_at_limit_plus_one():
    stream = io.BytesIO(b"a\r\n0123456789\r\n0\r\n\r\n")
    body, ended = decode_chunked(stream, 4)
    assert (body, ended) == (b"01234", False)


@pytest.mark.parametrize(
    "raw",
    [b"zz\r\nabc\r\n0\r\n\r\n", b"5\r\nab", b"3\r\nabcdef\r\n0\r\n\r\n", b"3\r\nabc\r\n", b"f" * 5000],
    ids=["not-hex", "closed-mid-chunk", "longer-than-said", "no-last-chunk", "endless-size-line"],
)
def test_broken_chunked_framing_is_an_error(raw):
    with pytest.raises(ChunkedFramingError):
        decode_chunked(io.BytesIO(raw), 1000)


# --- a chunked body that reached Django undecoded ------------------------------------------------------------


@pytest.mark.django_db
def test_a_chunked_body_that_reached_django_undecoded_is_a_411_and_stores_nothing(ns, fixtures_dir):
    token = factories.token(ns, ["ingest"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_TRANSFER_ENCODING="chunked")
    body = (fixtures_dir / CHECKOUT_PB).read_bytes()
    response = client.generic("POST", "/v1/traces", body, content_type="application/x-protobuf", CONTENT_LENGTH="")
    assert response.status_code == 411
    assert b"chunked" in response.content
    response = client.generic("POST", "/api/v1/executions", b"{}", content_type="application/json", CONTENT_LENGTH="")
    assert response.status_code == 411
    assert "Content-Length" in response.json()["detail"]
    assert Span.objects.count() == 0


# --- through real servers ------------------------------------------------------------------------------------


@pytest.fixture
def django_server(transactional_db) -> Iterator[str]:
    """Django's development server with the console's request handler (what `manage.py runserver` runs)."""
    with serve_console() as url:
        yield url


@pytest.fixture(params=["live_console", "django_server"], ids=["gunicorn", "runserver"])
def server_url(request) -> str:
    value = request.getfixturevalue(request.param)
    return value if isinstance(value, str) else value.url


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_a_chunked_otlp_export_is_stored_whole(server_url, fixtures_dir: Path, gzipped):
    ns = factories.namespace("payments")
    token = factories.token(ns, ["ingest"])
    body = (fixtures_dir / CHECKOUT_PB).read_bytes()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-protobuf"}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    status, _ = _post_chunked(server_url, "/v1/traces", body, headers, size=97)
    assert status == 200
    assert Span.objects.filter(namespace=ns).count() == 6


@pytest.mark.django_db(transaction=True)
def test_a_chunked_rest_body_is_read(server_url):
    ns = factories.namespace("payments")
    token = factories.token(ns, ["ingest"])
    record = {"job": "nightly-export", "execution_id": "42", "status": "running", "started_at": "2026-11-22T02:00:00Z"}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    status, answer = _post_chunked(server_url, "/api/v1/executions", json.dumps(record).encode(), headers, size=7)
    assert status == 200, answer
    assert Execution.objects.get(namespace=ns, execution_id="42").status == "running"


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_past_the_limit_is_a_413_on_django_s_server(django_server, settings):
    settings.OTLP_MAX_BODY_BYTES = 2048
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    ns = factories.namespace("payments")
    token = factories.token(ns, ["ingest"])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-protobuf"}
    status, _ = _post_chunked(django_server, "/v1/traces", b"\x00" * 10_000, headers, size=1000)
    assert status == 413
    assert Span.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_past_the_limit_is_a_413_under_gunicorn(live_console):
    ns = factories.namespace("payments")
    token = factories.token(ns, ["ingest"])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-protobuf"}
    too_big = b"\x00" * (20 * 1024 * 1024 + 10)  # the default OTLP_MAX_BODY_BYTES is 20 MiB
    status, _ = _post_chunked(live_console.url, "/v1/traces", too_big, headers, size=1 << 20)
    assert status == 413
    assert Span.objects.count() == 0
