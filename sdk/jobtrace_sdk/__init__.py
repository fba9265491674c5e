"""Jobtrace's instrumentation SDK on OpenTelemetry (docs/instrumentation.md)."""

from __future__ import annotations

from jobs.sdk.client import ExecutionRun, Jobtrace, Service, ShardRun, current_execution
from jobs.sdk.clock import SimClock, WallClock
from jobs.sdk.config import Config
from jobs.sdk.http_runner import HttpTaskResult, HttpTaskRunner
from jobs.sdk.propagation import (
    Envelope,
    extract_context,
    inject_headers,
    job_baggage,
    new_envelope,
    producer_context,
    producer_link,
)
from jobs.sdk.sampling import SamplingPolicy, decide

__all__ = [
    "Config",
    "Envelope",
    "ExecutionRun",
    "HttpTaskResult",
    "HttpTaskRunner",
    "Jobtrace",
    "SamplingPolicy",
    "Service",
    "ShardRun",
    "SimClock",
    "WallClock",
    "current_execution",
    "decide",
    "extract_context",
    "inject_headers",
    "job_baggage",
    "new_envelope",
    "producer_context",
    "producer_link",
]
