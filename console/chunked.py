"""Request bodies sent with `Transfer-Encoding: chunked` (no Content-Length), as every Node.js OTLP exporter sends.

Django reads a body through `LimitedStream(wsgi.input, CONTENT_LENGTH)`, and a chunked request has no
CONTENT_LENGTH: Django sees an empty body, which for OTLP protobuf is a valid empty export, answered 200 while the
spans are dropped. So before Django sees the request, the body is read whole (bounded by the largest body any
endpoint accepts) and handed on with its length:

- `console.bodies.RequestBodyApplication` wraps the WSGI application (`console.wsgi`) and reads every body whole
  within a deadline; a chunked one when the server decodes the framing itself and says where the body ends
  (`wsgi.input_terminated`, PEP 3333's extension that gunicorn sets).
- `ChunkedRequestHandler` is the request handler of Django's own servers (`manage.py runserver`, the in-process
  demo server), whose `wsgi.input` is the raw socket: it decodes the chunked framing (RFC 9112 §7.1) itself.
- `ChunkedBodyGuard` (middleware) answers 411 to a chunked body that reached Django undecoded (a server that
  neither decodes nor terminates the input), so no view ever answers 200 to a body it did not read.

A body past the limit is handed on cut at limit + 1 bytes with that length declared, so each endpoint refuses it
with its own 413 (OTLP status or JSON errors); the connection is closed after the answer.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, BinaryIO

from django.conf import settings
from django.core.servers.basehttp import ServerHandler, WSGIRequestHandler
from django.http import HttpRequest, HttpResponse, JsonResponse

_MAX_LINE = 4096  # a chunk-size line or trailer line longer than this is not HTTP


class ChunkedFramingError(ValueError):
    """The chunked framing itself is broken (not a hex size, no CRLF, the connection closed mid-chunk)."""


def body_limit(environ: dict[str, Any]) -> int:
    """The largest request body the endpoint accepts: more is never read. OTLP (/v1/) has its limits by content
    type (JSON's lower); everything else is Django's DATA_UPLOAD_MAX_MEMORY_SIZE."""
    if (environ.get("PATH_INFO") or "").startswith("/v1/"):
        content_type = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
        if content_type == "application/json":
            return settings.OTLP_MAX_JSON_BODY_BYTES
        return settings.OTLP_MAX_BODY_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE or settings.OTLP_MAX_BODY_BYTES


def is_chunked(environ: dict[str, Any]) -> bool:
    encodings = (environ.get("HTTP_TRANSFER_ENCODING") or "").lower()
    return "chunked" in encodings and not environ.get("CONTENT_LENGTH")


def _line(stream: BinaryIO) -> bytes:
    line = stream.readline(_MAX_LINE + 1)
    if not line.endswith(b"\n"):
        raise ChunkedFramingError("a chunk-size line is too long or the body ended early")
    return line.rstrip(b"\r\n")


def decode_chunked(stream: BinaryIO, limit: int) -> tuple[bytes, bool]:
    """Decode a chunked body from a raw stream: (the body, whether it ended). It stops once limit + 1 bytes are
    held, leaving the rest unread (the connection must then close); trailers are read and dropped."""
    parts: list[bytes] = []
    total = 0
    while True:
        size_field = _line(stream).split(b";", 1)[0].strip()  # chunk extensions are ignored, as RFC 9112 allows
        try:
            size = int(size_field, 16)
        except ValueError:
            raise ChunkedFramingError(f"{size_field[:40]!r} is not a chunk size") from None
        if size < 0:
            raise ChunkedFramingError("a chunk size is negative")
        if size == 0:
            while _line(stream):  # trailer fields, up to the empty line
                pass
            return b"".join(parts), True
        take = min(size, limit + 1 - total)
        data = stream.read(take)
        if len(data) < take:
            raise ChunkedFramingError("the connection closed inside a chunk")
        parts.append(data)
        total += len(data)
        if total > limit:
            return b"".join(parts), False
        if stream.read(2) != b"\r\n":
            raise ChunkedFramingError("a chunk is longer than its size says")


class ChunkedRequestHandler(WSGIRequestHandler):
    """Django's development request handler, plus chunked request bodies decoded from the socket."""

    def handle_one_request(self) -> None:
        # Django's own handle_one_request, with the body decoded before the WSGI environ is built.
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline = ""
            self.request_version = ""
            self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        environ = self.get_environ()
        stdin: BinaryIO = self.rfile
        if is_chunked(environ):
            try:
                body, ended = decode_chunked(self.rfile, body_limit(environ))
            except ChunkedFramingError as exc:
                self.close_connection = True
                self.send_error(400, f"Bad chunked body: {exc}")
                return
            if not ended:
                self.close_connection = True  # the rest of the body is still on the socket
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["wsgi.input_terminated"] = True
            stdin = io.BytesIO(body)
        handler = ServerHandler(stdin, self.wfile, self.get_stderr(), environ)
        handler.request_handler = self  # type: ignore[attr-defined]  # Django's back-pointer for logging
        handler.run(self.server.get_app())  # type: ignore[attr-defined]


class ChunkedBodyGuard:
    """A chunked body that reached Django undecoded would read as empty: answer 411 rather than drop it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_chunked(request.META):
            message = (
                "This server did not pass the chunked request body on; send a Content-Length, "
                "or serve the console with gunicorn (make serve) or manage.py runserver."
            )
            if request.path.startswith("/v1/"):
                return HttpResponse(message, status=411, content_type="text/plain; charset=utf-8")
            return JsonResponse({"detail": message}, status=411)
        return self.get_response(request)
