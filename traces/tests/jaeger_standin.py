"""A Jaeger query-service stand-in on loopback, serving the real fixtures as jaeger-query would (no Jaeger binary
can be installed here): v1 `/api/services`, `/api/traces/{id}`, `/api/traces?service=&start=&end=&limit=`, and v3
`/api/v3/services`, `/api/v3/traces/{id}`, `/api/v3/traces?query.*`; 404 for what it does not have."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from traces.tests.http_standin import QuietHandler, serving


def load_v1_traces(fixtures: Path) -> list[dict[str, Any]]:
    """Every trace in the v1 fixtures, in the query API's trace shape (processes map)."""
    traces = []
    for path in sorted((fixtures / "jaeger_api_v1").glob("*.json")):
        doc = json.loads(path.read_text())
        if isinstance(doc, dict) and "data" in doc:
            traces.extend(doc["data"])
        elif isinstance(doc, dict) and "spans" in doc:
            traces.append(doc)
    return traces


class StandIn:
    def __init__(self, fixtures: Path, delay: float = 0.0) -> None:
        self.traces = load_v1_traces(fixtures)
        self.v3 = {
            name: json.loads((fixtures / "jaeger_api_v3" / f"jaeger_apiv3_{name}_snapshot.json").read_text())
            for name in ("GetTrace", "FindTraces", "GetServices")
        }
        self.delay = delay
        self.requests: list[str] = []

    def services(self) -> list[str]:
        return sorted({p["serviceName"] for t in self.traces for p in t.get("processes", {}).values()})

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if path == "/api/services":
            return 200, {"data": self.services(), "total": len(self.services()), "errors": None}
        if path.startswith("/api/traces/"):
            wanted = path.rsplit("/", 1)[1]
            found = [t for t in self.traces if t["traceID"] == wanted]
            if not found:
                return 404, {"data": None, "errors": [{"code": 404, "msg": "trace not found"}]}
            return 200, {"data": found, "total": 0, "limit": 0, "offset": 0, "errors": None}
        if path == "/api/traces":
            service = query["service"][0]
            start, end = int(query["start"][0]), int(query["end"][0])
            limit = int(query.get("limit", ["20"])[0])
            found = [
                t
                for t in self.traces
                if any(p["serviceName"] == service for p in t.get("processes", {}).values())
                and any(start <= s["startTime"] <= end for s in t["spans"])
            ][:limit]
            return 200, {"data": found, "total": 0, "limit": 0, "offset": 0, "errors": None}
        if path == "/api/v3/services":
            return 200, self.v3["GetServices"]
        if path.startswith("/api/v3/traces/"):
            if path.rsplit("/", 1)[1] != "00000000000000000000000000000001":
                return 404, {"error": {"httpCode": 404, "message": "trace not found"}}
            return 200, self.v3["GetTrace"]
        if path == "/api/v3/traces":
            for key in ("query.start_time_min", "query.start_time_max"):
                datetime.fromisoformat(query[key][0].replace("Z", "+00:00"))  # RFC 3339, or a 500 below
            if query["query.service_name"][0] != "foo":
                return 404, {"error": {"httpCode": 404, "message": "No traces found"}}
            return 200, self.v3["FindTraces"]
        return 404, {"error": "no route"}


@contextmanager
def serve(fixtures: Path, delay: float = 0.0) -> Iterator[tuple[str, StandIn]]:
    standin = StandIn(fixtures, delay)

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            standin.requests.append(self.path)
            if standin.delay:
                time.sleep(standin.delay)
            try:
                status, body = standin.answer(parts.path, parse_qs(parts.query))
            except (KeyError, ValueError) as exc:
                status, body = 500, {"error": str(exc)}
            self.send(status, json.dumps(body).encode())

    with serving(Handler) as url:
        yield url, standin
