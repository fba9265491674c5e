"""Peak memory of a gunicorn worker receiving one big OTLP body: the baseline's code (where this branch left main,
or BENCH_BASELINE) against this tree, each body sent to a freshly started single-worker server.

Bodies: OTLP/JSON shaped like bench/spans.py's batches (8 attributes a span) at 4 and 20 MiB, 20 MiB of spans with
40 small attributes each (the costliest realistic shape: two dicts per attribute once decoded), and the same spans
as protobuf. Printed: the answer, the worker's peak RSS (VmHWM) before and after, and the growth as a multiple of
the body.

    python -m bench receiver_memory
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench._support import ROOT, fresh_database, gunicorn
from bench.serving import _baseline_tree, _merge_base, _server_pids
from bench.spans import _batch_dicts, _manage

MIB = 1024 * 1024


def _bench_shaped(size: int) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    seed = 0
    while len(json.dumps({"resourceSpans": resources})) < size - 500_000:
        resources.extend(_batch_dicts(seed))
        seed += 1
    return {"resourceSpans": resources}


def _many_attributes(size: int) -> dict[str, Any]:
    attributes = [{"key": f"k{i}", "value": {"intValue": str(i)}} for i in range(40)]
    traces = [secrets.token_hex(16) for _ in range(500)]
    spans = []
    total = 0
    while total < size - 2000:
        span = {
            "traceId": traces[len(spans) % len(traces)],
            "spanId": secrets.token_hex(8),
            "name": "op",
            "kind": 1,
            "startTimeUnixNano": str(1_763_800_000_000_000_000 + len(spans)),
            "endTimeUnixNano": str(1_763_800_000_000_100_000 + len(spans)),
            "attributes": attributes,
        }
        spans.append(span)
        total += len(json.dumps(span, separators=(",", ":"))) + 1
    service = [{"key": "service.name", "value": {"stringValue": "svc"}}]
    return {"resourceSpans": [{"resource": {"attributes": service}, "scopeSpans": [{"spans": spans}]}]}


def _protobuf(doc: dict[str, Any]) -> bytes:
    import base64

    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if s.get(key):
                        s[key] = base64.b64encode(bytes.fromhex(s[key])).decode()
    return json_format.ParseDict(doc, ExportTraceServiceRequest()).SerializeToString()


def _peak_mib(pids: set[int]) -> dict[int, float]:
    peaks = {}
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[pid] = int(line.split()[1]) / 1024
        except OSError:
            pass
    return peaks


def _measure(url: str, root: Path, token: str, body: bytes, content_type: str) -> tuple[int, float, float]:
    with gunicorn(url, 1, (), root) as base:
        address = urlsplit(base)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
        deadline = time.monotonic() + 60
        while True:  # the worker boots
            try:
                connection.request("GET", "/healthz")
                connection.getresponse().read()
                break
            except OSError:
                connection.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        pids = _server_pids(base)
        before = max(_peak_mib(pids).values())
        headers = {"Content-Type": content_type, "Authorization": f"Bearer {token}"}
        connection.request("POST", "/v1/traces", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        after = max(_peak_mib(pids).values())
        connection.close()
        return response.status, before, after


def main() -> None:
    url = fresh_database("memory")
    _manage(url, "create_namespace", "bench")
    token = _manage(url, "create_token", "bench", "--scopes", "ingest")
    heavy = _many_attributes(20 * MIB)
    bodies = {
        "OTLP/JSON, bench-shaped, 4 MiB": (json.dumps(_bench_shaped(4 * MIB)).encode(), "application/json"),
        "OTLP/JSON, bench-shaped, 20 MiB": (json.dumps(_bench_shaped(20 * MIB)).encode(), "application/json"),
        "OTLP/JSON, 40 attributes a span, 20 MiB": (
            json.dumps(heavy, separators=(",", ":")).encode(),
            "application/json",
        ),
        "protobuf, the same spans": (_protobuf(heavy), "application/x-protobuf"),
    }
    ref = os.environ.get("BENCH_BASELINE") or _merge_base()
    with tempfile.TemporaryDirectory(prefix="jobtrace-baseline-") as tmp:
        commit = _baseline_tree(ref, Path(tmp))
        for label, (body, content_type) in bodies.items():
            print(f"{label} ({len(body) / MIB:.1f} MiB):")
            for name, root in ((f"baseline {commit}", Path(tmp)), ("this tree", ROOT)):
                status, before, after = _measure(url, root, token, body, content_type)
                print(
                    f"  {name:<18} {status}  worker peak RSS {before:4.0f} -> {after:4.0f} MiB "
                    f"(+{after - before:.0f} MiB, {(after - before) * MIB / len(body):4.1f}x the body)"
                )
