"""Jobtrace's instrumentation SDK on OpenTelemetry (docs/instrumentation.md)."""

from __future__ import annotations

from jobtrace_sdk.client import Jobtrace, Service
from jobtrace_sdk.clock import SimClock, WallClock
from jobtrace_sdk.config import Config
from jobtrace_sdk.declare import JobDeclaration
from jobtrace_sdk.http_runner import HttpTaskResult, HttpTaskRunner
from jobtrace_sdk.propagation import (
    Envelope,
    extract_context,
    extract_env,
    inject_env,
    inject_headers,
    job_baggage,
    new_envelope,
    producer_context,
    producer_link,
)
from jobtrace_sdk.runs import ExecutionRun, ShardRun, current_execution
from jobtrace_sdk.sampling import SamplingPolicy, decide

__all__ = [
    "Config",
    "Envelope",
    "ExecutionRun",
    "HttpTaskResult",
    "HttpTaskRunner",
    "JobDeclaration",
    "Jobtrace",
    "SamplingPolicy",
    "Service",
    "ShardRun",
    "SimClock",
    "WallClock",
    "current_execution",
    "decide",
    "extract_context",
    "extract_env",
    "inject_env",
    "inject_headers",
    "job_baggage",
    "new_envelope",
    "producer_context",
    "producer_link",
]
