"""A tiny loopback stand-in for the console, for testing instrumented code without one.

    with CaptureConsole(policies={("shop", "nightly"): 0.3}) as console:
        jt = Jobtrace(url=console.url, token="t", namespace="shop")
        ...
        console.records("executions")  # every execution record received, in order
        console.spans()                # every span received over OTLP/HTTP (protobuf), decoded

It answers POST /api/v1/{executions,shards,messages} with 200, POST /v1/traces with an empty OTLP response,
GET /api/v1/jobs/<ns>/<job>/sampling with the configured rate (404 for unknown jobs unless a default is set), and
PUT /api/v1/jobs/<ns>/<job> (a job declaration) with the body it received, or `declare_status` with a message.
`status` makes record and trace posts answer otherwise (503 to test retries, 401 for a refused token), and
`delay` holds every answer that many seconds (a slow console).
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class CaptureConsole:
    policies: dict[tuple[str, str], float] = field(default_factory=dict)
    default_rate: float | None = None
    status: int = 200  # what record and trace posts answer (e.g. 503 to test retries)
    declare_status: int = 200  # what PUT /api/v1/jobs/<ns>/<job> answers
    delay: float = 0.0  # seconds every answer waits (a slow console)
    requests: list[Captured] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the capture console first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> CaptureConsole:
        console = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _capture(self) -> Captured:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                item = Captured(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with console._lock:
                    console.requests.append(item)
                return item

            def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                if console.delay:
                    time.sleep(console.delay)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._capture()
                parts = [_unescape(unquote(p)) for p in self.path.split("?")[0].strip("/").split("/")]
                if len(parts) == 6 and parts[:3] == ["api", "v1", "jobs"] and parts[5] == "sampling":
                    rate = console.policies.get((parts[3], parts[4]), console.default_rate)
                    if rate is None:
                        self._reply(404, b'{"detail": "No such job."}')
                    else:
                        self._reply(200, json.dumps({"namespace": parts[3], "job": parts[4], "rate": rate}).encode())
                    return
                self._reply(404, b"{}")

            def do_PUT(self) -> None:
                item = self._capture()
                parts = [_unescape(unquote(p)) for p in self.path.split("?")[0].strip("/").split("/")]
                if len(parts) != 5 or parts[:3] != ["api", "v1", "jobs"]:
                    self._reply(404, b'{"detail": "Not found."}')
                elif console.declare_status >= 300:
                    self._reply(console.declare_status, b'{"detail": "refused by the capture console"}')
                else:
                    declared = {"namespace": parts[3], "name": parts[4], **json.loads(item.body or b"{}")}
                    self._reply(console.declare_status, json.dumps(declared).encode())

            def do_POST(self) -> None:
                self._capture()
                if self.path.startswith(("/v1/traces", "/v1/logs")):
                    self._reply(console.status, b"", "application/x-protobuf")
                else:
                    self._reply(console.status, b'{"accepted": true}')

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="capture-console", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> CaptureConsole:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what arrived ---------------------------------------------------------------------------------------

    def posted(self, path_prefix: str) -> list[Captured]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path.startswith(path_prefix)]

    def log_bodies(self) -> list[Any]:
        """The bodies of every OTLP log record posted to /v1/logs (protobuf), in arrival order."""
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

        out: list[Any] = []
        for request in self.posted("/v1/logs"):
            message = ExportLogsServiceRequest.FromString(request.body)
            for rl in message.resource_logs:
                for sl in rl.scope_logs:
                    out.extend(r.body.string_value for r in sl.log_records)
        return out

    def records(self, kind: str) -> list[dict[str, Any]]:
        """Every record posted to /api/v1/<kind>, flattened from the lists, in arrival order."""
        out: list[dict[str, Any]] = []
        for request in self.posted(f"/api/v1/{kind}"):
            data = json.loads(request.body)
            out.extend(data if isinstance(data, list) else [data])
        return out

    def latest(self, kind: str, key: str = "execution_id") -> dict[str, dict[str, Any]]:
        """The last version of each record by `key` (records are re-sent as they progress)."""
        latest: dict[str, dict[str, Any]] = {}
        for record in self.records(kind):
            latest[record[key]] = {**latest.get(record[key], {}), **record}
        return latest

    def declarations(self) -> list[tuple[str, dict[str, Any]]]:
        """Every job declaration received: (path, JSON body), in arrival order."""
        with self._lock:
            puts = [r for r in self.requests if r.method == "PUT"]
        return [(r.path, json.loads(r.body or b"{}")) for r in puts]

    def spans(self) -> list[dict[str, Any]]:
        """Spans received over OTLP/HTTP protobuf, as plain dicts (ids hex, attributes decoded)."""
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        out: list[dict[str, Any]] = []
        for request in self.posted("/v1/traces"):
            message = ExportTraceServiceRequest()
            message.ParseFromString(request.body)
            for resource_spans in message.resource_spans:
                resource = {kv.key: _any_value(kv.value) for kv in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        out.append(
                            {
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent_span_id": span.parent_span_id.hex(),
                                "name": span.name,
                                "kind": span.kind,
                                "service": resource.get("service.name", ""),
                                "start_ns": span.start_time_unix_nano,
                                "end_ns": span.end_time_unix_nano,
                                "status_code": span.status.code,
                                "status_message": span.status.message,
                                "attributes": {kv.key: _any_value(kv.value) for kv in span.attributes},
                                "events": [
                                    {
                                        "name": e.name,
                                        "attributes": {kv.key: _any_value(kv.value) for kv in e.attributes},
                                    }
                                    for e in span.events
                                ],
                                "links": [
                                    {"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex()}
                                    for link in span.links
                                ],
                                "authorization": request.headers.get("authorization", ""),
                            }
                        )
        return out


def _unescape(segment: str) -> str:
    """The console's path segments hold `%`, `/` and a lone `.`/`..` as %25, %2F, %2E (jobtrace_sdk.sampling)."""
    return re.sub(r"%(2[fF]|25|2[eE])", lambda m: {"2f": "/", "25": "%", "2e": "."}[m[1].lower()], segment)


def _any_value(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which)
