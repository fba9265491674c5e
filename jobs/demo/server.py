"""The console served in-process on a loopback port, for the demo (and anything else that needs a real one)."""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.servers.basehttp import WSGIServer
from django.db import connections
from django.urls import get_resolver

from console.chunked import ChunkedRequestHandler


class _QuietHandler(ChunkedRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


class _Server(WSGIServer):
    # One request at a time: the embedded SQLite takes one writer, and requests queue instead of racing for it.
    request_queue_size = 128

    def process_request(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request(request, client_address)
        finally:
            connections.close_all()


@contextmanager
def serve_console(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve console.wsgi's application on a daemon thread; yields the base URL, stops on exit."""
    with warnings.catch_warnings():
        # whitenoise warns when collectstatic has not run; the demo serves no static files.
        warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
        from console.wsgi import application

    app = application
    # Import every view now, not on the first request (which a client with a short timeout would give up on).
    get_resolver().url_patterns  # noqa: B018
    server = _Server((host, port), _QuietHandler, ipv6=False, allow_reuse_address=True)
    server.set_app(app)
    logging.getLogger("django.server").setLevel(logging.ERROR)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
