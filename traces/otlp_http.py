"""OTLP/HTTP, the part every signal's receiver shares, as the OpenTelemetry protocol specification describes it.

`receive(request, path, handle)` checks what the specification fixes for any signal, then hands the body to the
signal's handler (traces/receiver.py for /v1/traces):

- POST only (405 otherwise); `application/x-protobuf` (or `application/protobuf`) or `application/json` (415
  otherwise), answered in protobuf or JSON as asked; `Content-Encoding: gzip` or none (415 otherwise).
- `Authorization: Bearer <token>` with the `ingest` scope: 401 for a missing or wrong token, 403 without the scope.
- 413 past OTLP_MAX_BODY_BYTES (OTLP_MAX_JSON_BODY_BYTES for JSON), compressed or inflated (enforced while
  inflating, so a gzip bomb never expands into memory); 400 for bad gzip; errors are google.rpc.Status bodies
  (`status_response`).
- 503 with Retry-After when the database is unavailable, whatever the handler was doing: never a 200 for data that
  was not stored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import zlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import status_pb2
from rest_framework.exceptions import AuthenticationFailed

from console.middleware import is_database_outage
from jobs.auth import token_from_header
from jobs.choices import Scope
from jobs.models import ApiToken

logger = logging.getLogger("traces.receiver")

PROTOBUF = "application/x-protobuf"
# `application/protobuf` (the IETF draft's name for the protobuf media type, which some clients send): the same body.
PROTOBUF_TYPES = (PROTOBUF, "application/protobuf")
JSON = "application/json"
_CHUNK = 64 * 1024

# google.rpc.Code values used in Status bodies
INVALID_ARGUMENT = 3
_PERMISSION_DENIED = 7
_RESOURCE_EXHAUSTED = 8
_UNIMPLEMENTED = 12
_UNAVAILABLE = 14
_UNAUTHENTICATED = 16

# A signal's handler: (the caller's token, the body as sent, inflated; whether it is JSON) -> the response.
Handler = Callable[[ApiToken, bytes, bool], HttpResponse]


class TooLarge(Exception):
    pass


def status_response(http_status: int, code: int, message: str, json_body: bool) -> HttpResponse:
    if json_body:
        body = json.dumps({"code": code, "message": message}).encode()
        response = HttpResponse(body, status=http_status, content_type=JSON)
    else:
        status = status_pb2.Status(code=code, message=message)
        response = HttpResponse(status.SerializeToString(), status=http_status, content_type=PROTOBUF)
    return response


def export_response(reply: Message, json_body: bool) -> HttpResponse:
    """A signal's 200 answer (an Export*ServiceResponse, with its partial_success when set), as the request was."""
    if json_body:
        body = json_format.MessageToJson(reply, indent=None).encode() if reply.ByteSize() else b"{}"
        return HttpResponse(body, status=200, content_type=JSON)
    return HttpResponse(reply.SerializeToString(), status=200, content_type=PROTOBUF)


def undecodable(message: str, json_body: bool) -> HttpResponse:
    """400 for a body that does not decode as the signal's request: nothing of it is stored."""
    return status_response(400, INVALID_ARGUMENT, message, json_body)


def receive(request: HttpRequest, path: str, handle: Handler) -> HttpResponse:
    """Check method, content type, encoding and token; read and inflate the body within the limit; `handle` it."""
    content_type = (request.META.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
    json_body = content_type == JSON
    if request.method != "POST":
        response = status_response(405, _UNIMPLEMENTED, f"Only POST is supported on {path}.", json_body)
        response["Allow"] = "POST"
        return response
    if content_type not in (*PROTOBUF_TYPES, JSON):
        return status_response(
            415,
            INVALID_ARGUMENT,
            f"Unsupported Content-Type {content_type or '(none)'!r}: use {' or '.join(PROTOBUF_TYPES)} (protobuf) "
            f"or {JSON}.",
            False,
        )
    encoding = (request.META.get("HTTP_CONTENT_ENCODING") or "identity").strip().lower()
    if encoding not in ("gzip", "identity", ""):
        return status_response(
            415, INVALID_ARGUMENT, f"Unsupported Content-Encoding {encoding!r}: use gzip or none.", json_body
        )
    try:
        return _authenticated(request, json_body, encoding == "gzip", handle)
    except DatabaseError as exc:
        if not is_database_outage(exc):
            raise
        logger.warning("database unavailable on %s: %s", path, exc)
        response = status_response(
            503, _UNAVAILABLE, "The database is unavailable; nothing was stored. Retry shortly.", json_body
        )
        response["Retry-After"] = str(min(settings.JOBTRACE_RETRY_AFTER_SECONDS, 5))
        return response


def _authenticated(request: HttpRequest, json_body: bool, gzipped: bool, handle: Handler) -> HttpResponse:
    try:
        token = token_from_header(request.META.get("HTTP_AUTHORIZATION"))
    except AuthenticationFailed as exc:
        return _unauthorized(str(exc.detail), json_body)
    if token is None:
        return _unauthorized("An API token is required: Authorization: Bearer <token> (ingest scope).", json_body)
    if not token.has_scope(Scope.INGEST):
        return status_response(403, _PERMISSION_DENIED, "This token lacks the 'ingest' scope.", json_body)

    # OTLP/JSON decodes to 10-40x its size in Python objects: it has its own, lower limit.
    limit = settings.OTLP_MAX_JSON_BODY_BYTES if json_body else settings.OTLP_MAX_BODY_BYTES
    try:
        body = _read_limited(request, limit)
        if gzipped:
            body = _gunzip_limited(body, limit)
    except TooLarge:
        return status_response(
            413, _RESOURCE_EXHAUSTED, f"The request body exceeds {limit} bytes (compressed or inflated).", json_body
        )
    except zlib.error as exc:
        return status_response(400, INVALID_ARGUMENT, f"The body is not valid gzip ({exc}).", json_body)
    return handle(token, body, json_body)


def _gunicorn_length_reader(request: HttpRequest) -> Any:
    """gunicorn's Content-Length reader beneath its `wsgi.input`, when nothing was read through that input yet.

    gunicorn's `Body.read` takes the body 1 KiB at a time, ~8 µs of CPU per KiB: 3.3 ms for a 400 KiB OTLP/JSON
    batch, more than storing 100 of its spans. Its LengthReader takes what each recv brings (0.5 ms). Any other
    server, or a gunicorn whose internals differ, reads through `request.read` as before.
    """
    stream = request.META.get("wsgi.input")
    reader = getattr(stream, "reader", None)
    buf = getattr(stream, "buf", None)
    if type(reader).__name__ != "LengthReader" or type(reader).__module__ != "gunicorn.http.body":
        return None
    if buf is None or not hasattr(buf, "tell") or buf.tell() or not callable(getattr(reader, "read", None)):
        return None
    return reader


def _read_limited(request: HttpRequest, limit: int) -> bytes:
    """The raw body, at most `limit` bytes (checked against Content-Length first, then while reading)."""
    length = request.META.get("CONTENT_LENGTH")
    declared = None
    if length:
        with contextlib.suppress(ValueError):
            declared = int(length)
        if declared is not None and declared > limit:
            raise TooLarge
    reader = _gunicorn_length_reader(request) if declared is not None and declared >= 0 else None
    if reader is not None:
        chunks = []
        left = declared
        while left > 0:  # type: ignore[operator]
            chunk = reader.read(min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)  # type: ignore[operator]
        return b"".join(chunks)
    parts = []
    total = 0
    while True:
        chunk = request.read(_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise TooLarge
        parts.append(chunk)
    return b"".join(parts)


def _gunzip_limited(data: bytes, limit: int) -> bytes:
    """Inflate gzip, never holding more than `limit` inflated bytes (a gzip bomb stops at the limit). Concatenated
    members are valid gzip: they are read one after another in a loop, the input fed in _CHUNK slices, so neither
    the stack nor the leftover copies zlib makes grow with the number of members."""
    out = bytearray()
    view = memoryview(data)
    pos = 0
    while True:  # one gzip member per turn
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        while not inflater.eof:
            if pos >= len(data):
                raise zlib.error("the gzip stream is truncated")
            pending: bytes | memoryview = view[pos : pos + _CHUNK]
            pos += len(pending)
            while pending and not inflater.eof:
                out += inflater.decompress(pending, limit + 1 - len(out))
                if len(out) > limit:
                    raise TooLarge
                pending = inflater.unconsumed_tail
        pos -= len(inflater.unused_data)  # the next member starts in the slice this one ended in
        if pos >= len(data):
            return bytes(out)


def _unauthorized(message: str, json_body: bool) -> HttpResponse:
    response = status_response(401, _UNAUTHENTICATED, message, json_body)
    response["WWW-Authenticate"] = 'Bearer realm="jobtrace"'
    return response
