"""inventory-service: a small HTTP service with no SDK (think C++ or Go), for the HTTP-triggered task scenario.

It parses `traceparent` and `baggage` by hand (W3C formats), continues the caller's trace, and reports its own
spans with the hand-rolled OTLP/JSON emitter. Calls whose baggage carries `job.execution.id` are marked
`traffic.origin=scheduler`; everything else is user traffic. Demo-only headers stand in for its clock:
`X-Demo-Clock-Ns` (now, on the simulated clock) in, `X-Demo-Elapsed-Ns` (how long it "took") out, and
`X-Demo-Fail` asks it to fail the way a warehouse timeout would.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from jobs.demo.otlp_json import KIND_CLIENT, KIND_INTERNAL, KIND_SERVER, STATUS_ERROR, RawSpan, emit

SERVICE = "inventory-service"
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def parse_traceparent(value: str | None) -> tuple[str, str, bool] | None:
    match = _TRACEPARENT.match((value or "").strip().lower())
    if not match or match.group(1) == "0" * 32 or match.group(2) == "0" * 16:
        return None
    return match.group(1), match.group(2), bool(int(match.group(3), 16) & 1)


def parse_baggage(value: str | None) -> dict[str, str]:
    entries: dict[str, str] = {}
    for member in (value or "").split(","):
        key, sep, rest = member.partition("=")
        if sep:
            entries[unquote(key.strip())] = unquote(rest.split(";")[0].strip())
    return entries


class _Ids:
    def __init__(self, seed: str) -> None:
        self.rng = random.Random(int(hashlib.sha256(seed.encode()).hexdigest()[:16], 16))

    def span(self) -> str:
        return format(self.rng.getrandbits(64) or 1, "016x")

    def trace(self) -> str:
        return format(self.rng.getrandbits(128) or 1, "032x")


class InventoryService:
    def __init__(self, otlp_endpoint: str, token: str, batch_size: int = 300) -> None:
        self.otlp_endpoint = otlp_endpoint
        self.token = token
        self.batch_size = batch_size
        self.pending: list[RawSpan] = []
        self._lock = threading.Lock()
        self.requests = 0
        self.scheduler_calls = 0
        self.user_calls = 0

    def handle(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any], int]:
        """Returns (status, body, elapsed_ns); emits the spans of the call."""
        self.requests += 1
        now = int(headers.get("x-demo-clock-ns") or time.time_ns())
        parent = parse_traceparent(headers.get("traceparent"))
        bag = parse_baggage(headers.get("baggage"))
        ids = _Ids(f"{headers.get('traceparent', '')}|{path}|{now}")
        trace_id, parent_span_id, sampled = parent if parent else (ids.trace(), "", True)
        job_attrs = {k: v for k, v in bag.items() if k.startswith("job.")}
        scheduler = "job.execution.id" in job_attrs
        if scheduler:
            self.scheduler_calls += 1
        else:
            self.user_calls += 1
        origin = {"traffic.origin": "scheduler" if scheduler else "user", **job_attrs}
        fail = headers.get("x-demo-fail", "")
        spans: list[RawSpan] = []
        server_id = ids.span()
        t = now + 200_000
        if path.startswith("/tasks/inventory-sync"):
            skus = 40 + ids.rng.randrange(60)
            fetch_ms = 300 + ids.rng.randrange(500)
            fetch = RawSpan(
                trace_id,
                ids.span(),
                server_id,
                "GET warehouse-api /stock",
                KIND_CLIENT,
                t,
                t + fetch_ms * 1_000_000,
                {"http.request.method": "GET", "server.address": "warehouse-api", **origin},
            )
            if fail:
                fetch.end_ns = t + 5_000_000_000
                fetch.status = STATUS_ERROR
                fetch.status_message = "warehouse-api did not answer within 5 s"
                fetch.events.append(
                    {
                        "time_ns": fetch.end_ns,
                        "name": "exception",
                        "attributes": {
                            "exception.type": "TimeoutError",
                            "exception.message": fetch.status_message,
                            "exception.stacktrace": "TimeoutError: warehouse-api did not answer within 5 s\n"
                            "    at WarehouseClient::fetchStock (warehouse_client.cc:88)\n"
                            "    at InventorySync::run (inventory_sync.cc:41)",
                        },
                    }
                )
                spans.append(fetch)
                end = fetch.end_ns + 1_000_000
                status, body = 503, {"error": "warehouse-api timed out", "synced": 0}
            else:
                spans.append(fetch)
                t = fetch.end_ns
                write_ms = 100 + skus * 3
                spans.append(
                    RawSpan(
                        trace_id,
                        ids.span(),
                        server_id,
                        "UPDATE stock_levels",
                        KIND_CLIENT,
                        t,
                        t + write_ms * 1_000_000,
                        {"db.system": "postgresql", "db.operation.name": "UPDATE", "rows": skus, **origin},
                    )
                )
                end = t + write_ms * 1_000_000 + 500_000
                status, body = 200, {"synced": skus}
        else:  # GET /stock/<sku>: a customer's request
            lookup_ms = 5 + ids.rng.randrange(30)
            spans.append(
                RawSpan(
                    trace_id,
                    ids.span(),
                    server_id,
                    "SELECT stock_levels",
                    KIND_CLIENT,
                    t,
                    t + lookup_ms * 1_000_000,
                    {"db.system": "postgresql", **origin},
                )
            )
            end = t + lookup_ms * 1_000_000 + 300_000
            status, body = 200, {"sku": path.rsplit("/", 1)[-1], "available": ids.rng.randrange(100)}
        server = RawSpan(
            trace_id,
            server_id,
            parent_span_id,
            f"{method} {path.split('?')[0]}",
            KIND_SERVER,
            now,
            end,
            {"http.request.method": method, "url.path": path, "http.response.status_code": status, **origin},
            status=STATUS_ERROR if status >= 500 else 0,
            status_message=body.get("error", "") if status >= 500 else "",
        )
        work = RawSpan(
            trace_id,
            ids.span(),
            server_id,
            "InventorySync::run" if scheduler else "StockLookup::get",
            KIND_INTERNAL,
            now + 100_000,
            end - 100_000,
            dict(origin),
        )
        if sampled:
            with self._lock:
                self.pending.extend([server, work, *spans])
                full = len(self.pending) >= self.batch_size
            if full:
                self.flush()
        return status, body, end - now

    def flush(self) -> None:
        """Send the buffered spans (a batching exporter, as any real one is)."""
        with self._lock:
            batch, self.pending = self.pending, []
        if batch:
            resource = {"telemetry.sdk.language": "cpp", "service.version": "4.2.0"}
            emit(self.otlp_endpoint, self.token, SERVICE, batch, resource=resource)


@contextmanager
def serve_inventory(otlp_endpoint: str, token: str) -> Iterator[tuple[str, InventoryService]]:
    service = InventoryService(otlp_endpoint, token)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body, elapsed = service.handle(self.command, self.path, headers)
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("X-Demo-Elapsed-Ns", str(elapsed))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = _serve
        do_POST = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", service
    finally:
        server.shutdown()
        server.server_close()
        service.flush()
