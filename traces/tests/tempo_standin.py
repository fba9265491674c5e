"""A Grafana Tempo stand-in on loopback serving the real fixture (../shared/fixtures/tempo) as Tempo's HTTP API
would (no Tempo binary can be installed here): `/api/v2/traces/<hex id>` (`{"trace": {"resourceSpans": ...}}`),
or, with `v2=False` (a Tempo before 2.5), only `/api/traces/<hex id>` (`{"batches": ...}`); 404 for anything else.
`delay` (seconds before answering) can be changed between requests. One per test session (the fixture below)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from traces.tests.http_standin import QuietHandler, serving

FIXTURE = "tempo/tempo_trace_by_id_istio_bookinfo_base64_ids.json"


class StandIn:
    def __init__(self, fixtures: Path) -> None:
        self.doc = json.loads((fixtures / FIXTURE).read_text())
        first = self.doc["batches"][0]["scopeSpans"][0]["spans"][0]
        self.trace_id = base64.b64decode(first["traceId"]).hex()
        self.delay = 0.0
        self.v2 = True
        self.requests: list[str] = []

    def answer(self, path: str) -> tuple[int, Any]:
        if self.v2 and path == f"/api/v2/traces/{self.trace_id}":
            return 200, {"trace": {"resourceSpans": self.doc["batches"]}}
        if path == f"/api/traces/{self.trace_id}":
            return 200, self.doc
        if path.startswith("/api/v2/traces/") and not self.v2:
            return 404, "404 page not found"
        return 404, "trace not found"


def start(fixtures: Path) -> Iterator[tuple[str, StandIn]]:
    standin = StandIn(fixtures)

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            standin.requests.append(self.path)
            if standin.delay:
                time.sleep(standin.delay)
            status, body = standin.answer(self.path.split("?", 1)[0])
            data = (json.dumps(body) if not isinstance(body, str) else body).encode()
            self.send(status, data, "application/json" if status == 200 else "text/plain")

    with serving(Handler) as url:
        yield url, standin
