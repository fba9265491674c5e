"""`manage.py runserver`, whose server also reads chunked request bodies (see console/chunked.py).

It is whitenoise's runserver (static files served as in production) with Django's development server taught to
decode `Transfer-Encoding: chunked`, so a Node.js OTLP exporter pointed at `make run` has its spans stored.
`--sign-in` (what `make run` passes) prints the local admin's sign-in line last, once the server is listening.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django.core.servers.basehttp import WSGIServer
from whitenoise.runserver_nostatic.management.commands.runserver import Command as WhitenoiseRunserver

from console.chunked import ChunkedRequestHandler
from console.signin import sign_in_line


class ChunkedWSGIServer(WSGIServer):
    def __init__(self, server_address: Any, handler_class: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(server_address, ChunkedRequestHandler, *args, **kwargs)


class Command(WhitenoiseRunserver):
    server_cls = ChunkedWSGIServer
    sign_in = False

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--sign-in", action="store_true", help="print the local admin's sign-in line once the server listens"
        )

    def inner_run(self, *args: Any, **options: Any) -> None:
        self.sign_in = bool(options.get("sign_in"))
        super().inner_run(*args, **options)

    def on_bind(self, server_port: int) -> None:
        super().on_bind(server_port)
        if self.sign_in:
            host = f"[{self.addr}]" if self._raw_ipv6 else ("0.0.0.0" if self.addr == "0" else self.addr)  # noqa: S104
            self.stdout.write(self.style.SUCCESS(sign_in_line(f"{self.protocol}://{host}:{server_port}/")))
