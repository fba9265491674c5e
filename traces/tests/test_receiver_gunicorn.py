"""The receiver reads gunicorn's body stream through its Content-Length reader (gunicorn's own read() takes 1 KiB
at a time): every byte arrives whatever the chunking, and the size limit still holds."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import IterUnreader

from tests import factories
from traces.models import Span
from traces.otlp_http import _gunicorn_length_reader
from traces.receiver import traces_view

PB = "application/x-protobuf"
CHECKOUT_PB = "otlp_protobuf/otlp_checkout_6spans_5services_error_status.ExportTraceServiceRequest.pb"

pytestmark = pytest.mark.django_db


def _request(body: bytes, token: str, chunk: int, declared: int | None = None):
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    length = len(body) if declared is None else declared
    stream = Body(LengthReader(IterUnreader(iter(chunks)), length))
    request = RequestFactory().post(
        "/v1/traces", data=b"", content_type=PB, HTTP_AUTHORIZATION=f"Bearer {token}", CONTENT_LENGTH=str(length)
    )
    request.META.update({"wsgi.input": stream, "CONTENT_TYPE": PB, "CONTENT_LENGTH": str(length)})
    request._stream = stream  # what Django would read through, had the fast path not applied
    return request, stream


@pytest.mark.parametrize("chunk", [1, 7, 1000, 1 << 20])
def test_a_body_in_any_chunking_is_read_whole_through_gunicorns_reader(ns, fixtures_dir, chunk):
    token = factories.token(ns, ["ingest"])
    body = (fixtures_dir / CHECKOUT_PB).read_bytes()
    request, stream = _request(body, token, chunk)
    assert _gunicorn_length_reader(request) is stream.reader
    response = traces_view(request)
    assert response.status_code == 200, response.content
    assert Span.objects.filter(namespace=ns).count() == 6
    assert stream.read(8192) == b""  # nothing left for gunicorn to drain, nothing read twice


def test_a_declared_length_past_the_limit_is_refused_before_reading(ns, settings):
    settings.OTLP_MAX_BODY_BYTES = 1024
    token = factories.token(ns, ["ingest"])
    request, stream = _request(b"x" * 2048, token, 512)
    response = traces_view(request)
    assert response.status_code == 413
    assert stream.reader.length == 2048  # not a byte was read


def test_a_stream_already_read_from_is_not_read_around(ns):
    token = factories.token(ns, ["ingest"])
    request, stream = _request(b"abcdef", token, 2)
    stream.read(1)  # gunicorn's own buffer now holds bytes the reader no longer has
    assert _gunicorn_length_reader(request) is None
