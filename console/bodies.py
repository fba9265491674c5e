"""Request bodies are read whole, within a deadline, before Django sees the request (WSGI middleware).

A client that sends its body slowly (a trickle of a byte a second, a stalled mobile link, a slow-loris attack)
must not hold what the other requests need. So every body is read here, before any view runs:

- within `JOBTRACE_REQUEST_READ_TIMEOUT_SECONDS` in total (a deadline over the whole body, not a per-read timeout
  that a trickle resets with every byte). Past it the server's socket is shut for reading, the read returns, and
  the client is answered 408; the connection is then closed. Under gunicorn's gevent worker (`make serve`) a
  waiting body costs a greenlet, no database connection and no slot of the ingest concurrency cap
  (console/limits.py); under threaded or sync workers it would still hold a thread or the worker until the
  deadline, which is why `make serve` uses gevent.
- bounded by the largest body the endpoint accepts (`console.chunked.body_limit`: OTLP's limits on /v1/, by
  content type; Django's DATA_UPLOAD_MAX_MEMORY_SIZE elsewhere). A body declared larger is not read at all: the
  endpoint answers 413 from its Content-Length. A chunked body past the limit is handed on cut at limit + 1 bytes
  with that length declared, so the endpoint refuses it with its own 413.
- `Transfer-Encoding: chunked` bodies (every Node.js OTLP exporter sends them) are read to their end when the
  server decodes the framing and says where the body ends (`wsgi.input_terminated`, which gunicorn sets), and
  handed on with their length (Django reads only up to CONTENT_LENGTH: see console/chunked.py).

Under gunicorn the body is taken from its readers beneath `wsgi.input` (gunicorn's `Body.read` takes 1 KiB per
call, ~8 µs of CPU per KiB; its readers take what each recv brings). Any other server is read through `wsgi.input`.
"""

from __future__ import annotations

import contextlib
import io
import socket
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings

from console.chunked import body_limit, is_chunked
from console.deadlines import Timer, watchdog

_READ = 1 << 20

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class BodyTimeout(Exception):
    """The client did not send its whole body within the read deadline."""


class BodyIncomplete(Exception):
    """The client closed the connection before sending the body it declared."""


def declared_length(environ: dict[str, Any]) -> int | None:
    raw = environ.get("CONTENT_LENGTH")
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


def _raw_reader(stream: Any) -> Any:
    """gunicorn's Length/Chunked reader beneath its `wsgi.input`, when nothing was read through that input yet."""
    reader = getattr(stream, "reader", None)
    buf = getattr(stream, "buf", None)
    kind = type(reader)
    if kind.__module__ != "gunicorn.http.body" or kind.__name__ not in ("LengthReader", "ChunkedReader"):
        return None
    if buf is None or not hasattr(buf, "tell") or buf.tell() or not callable(getattr(reader, "read", None)):
        return None
    return reader


def _read(stream: Any, want: int) -> bytes:
    """Up to `want` bytes (fewer only at the end of the body)."""
    reader = _raw_reader(stream)
    read = reader.read if reader is not None else stream.read
    parts = []
    left = want
    while left > 0:
        chunk = read(min(left, _READ))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _shut_reading(sock: socket.socket) -> Callable[[], None]:
    def shut() -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RD)

    return shut


def read_body(environ: dict[str, Any], length: int | None, limit: int, timeout: float) -> bytes:
    """The request body: `length` bytes, or (chunked, `length` None) everything up to limit + 1 bytes."""
    stream = environ["wsgi.input"]
    sock = environ.get("gunicorn.socket")
    timer: Timer | None = None
    if isinstance(sock, socket.socket) and timeout > 0:
        timer = watchdog.arm(timeout, _shut_reading(sock))
    try:
        body = _read(stream, length if length is not None else limit + 1)
    except Exception:
        if timer is not None and timer.fired:
            raise BodyTimeout from None
        raise
    finally:
        if timer is not None:
            timer.cancel()
    if length is not None and len(body) < length:
        if timer is not None and timer.fired:
            raise BodyTimeout
        raise BodyIncomplete
    return body


def _answer(start_response: Callable[..., Any], status: str, message: str) -> list[bytes]:
    body = message.encode()
    start_response(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


class RequestBodyApplication:
    """WSGI middleware: the body is read whole (deadline, limit) and handed on as an in-memory stream."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = declared_length(environ)
        chunked = is_chunked(environ) and bool(environ.get("wsgi.input_terminated"))
        limit = body_limit(environ)
        if chunked or (length and length <= limit):
            timeout = settings.JOBTRACE_REQUEST_READ_TIMEOUT_SECONDS
            try:
                body = read_body(environ, None if chunked else length, limit, timeout)
            except BodyTimeout:
                return _answer(
                    start_response,
                    "408 Request Timeout",
                    f"The request body did not arrive within {timeout:g} s; nothing was stored.",
                )
            except BodyIncomplete:
                return _answer(start_response, "400 Bad Request", "The connection closed before the body ended.")
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)

    def __getattr__(self, name: str) -> Any:  # the Django WSGIHandler's own attributes stay reachable
        return getattr(self.app, name)
