"""Summaries-only mode against storing every span: ingest rate and bytes on disk per million spans.

One process parses OTLP/JSON batches (bench/spans.py's shape: 512 spans in 4 services, 8 attributes each, 2
resource attributes) and stores them with traces.store.store_spans, as one receiver core does, into a fresh
PostgreSQL database; 1 trace in 50 fails (its spans carry an error and an exception event: summaries-only mode keeps
those whole). Per mode (JOBTRACE_SPAN_STORAGE all, then summaries, the tables truncated between them): spans/s
(parse + store, wall clock of the one process), and the bytes on disk (tables, TOAST and indexes, every span
partition) of the span, summary, per-service and span-link tables, per million spans. BENCH_STORAGE_BATCHES
(default 200: 102,400 spans per mode) bounds it.
"""

from __future__ import annotations

import json
import os
import time

import django

from bench._support import fresh_database
from bench.spans import SPANS_PER_BATCH, _batch_dicts

TABLES = ("traces_trace", "traces_traceservice", "traces_spanlink")


def _docs(batches: int) -> list[bytes]:
    out, seen = [], 0
    for i in range(batches):
        resources = _batch_dicts(i)
        traces = sorted({s["traceId"] for r in resources for s in r["scopeSpans"][0]["spans"]})
        failed = {t for n, t in enumerate(traces, start=seen) if n % 50 == 0}
        seen += len(traces)
        for r in resources:
            for s in r["scopeSpans"][0]["spans"]:
                if s["traceId"] not in failed:
                    s["status"] = {}
                    s.pop("events", None)
                else:
                    s["status"] = {"code": 2, "message": "field too long"}
        out.append(json.dumps({"resourceSpans": resources}).encode())
    return out


def _bytes(cursor) -> int:
    cursor.execute(
        "SELECT COALESCE(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree('traces_span') WHERE isleaf"
    )
    spans = cursor.fetchone()[0]
    cursor.execute("SELECT sum(pg_total_relation_size(t::regclass)) FROM unnest(%s::text[]) t", [list(TABLES)])
    return int(spans) + int(cursor.fetchone()[0])


def main() -> None:
    batches = int(os.environ.get("BENCH_STORAGE_BATCHES", "200"))
    os.environ["DATABASE_URL"] = fresh_database("storage")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    django.setup()
    from django.db import connection

    from jobs.models import Namespace
    from traces.ingest import parse_otlp
    from traces.store import store_spans

    ns = Namespace.objects.create(name="bench")
    docs = _docs(batches)
    spans = batches * SPANS_PER_BATCH
    print(f"{batches} OTLP/JSON batches of {SPANS_PER_BATCH} spans ({spans:,} per mode), 1 trace in 50 failed")
    figures = {}
    for mode in ("all", "summaries"):
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE traces_span, traces_trace, traces_traceservice, traces_spanlink CASCADE")
        started = time.perf_counter()
        for body in docs:
            store_spans(ns, parse_otlp(body, json_body=True, aliases={}).spans, storage=mode)
        took = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE traces_span")
            cursor.execute("SELECT count(*) FROM traces_span")
            stored = cursor.fetchone()[0]
            size = _bytes(cursor)
        figures[mode] = (spans / took, size / spans * 1_000_000)
        print(
            f"{mode:>9}: {spans / took:,.0f} spans/s (parse + store, one process); {stored:,} span rows; "
            f"{size / spans * 1_000_000 / 2**20:,.0f} MiB on disk per million spans ({size / spans:,.0f} B/span)"
        )
    (rate_all, disk_all), (rate_sum, disk_sum) = figures["all"], figures["summaries"]
    print(f"summaries vs all: ingest x{rate_sum / rate_all:.2f}, disk x{disk_sum / disk_all:.2f}")
