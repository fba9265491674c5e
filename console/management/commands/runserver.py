"""`manage.py runserver`, whose server also reads chunked request bodies (see console/chunked.py).

It is whitenoise's runserver (static files served as in production) with Django's development server taught to
decode `Transfer-Encoding: chunked`, so a Node.js OTLP exporter pointed at `make run` has its spans stored.
"""

from __future__ import annotations

from typing import Any

from django.core.servers.basehttp import WSGIServer
from whitenoise.runserver_nostatic.management.commands.runserver import Command as WhitenoiseRunserver

from console.chunked import ChunkedRequestHandler


class ChunkedWSGIServer(WSGIServer):
    def __init__(self, server_address: Any, handler_class: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(server_address, ChunkedRequestHandler, *args, **kwargs)


class Command(WhitenoiseRunserver):
    server_cls = ChunkedWSGIServer
