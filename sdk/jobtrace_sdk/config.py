"""Where the SDK sends what: from arguments, else the environment (JOBTRACE_URL, JOBTRACE_TOKEN, ...)."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None


@dataclass(frozen=True)
class Config:
    """
    url: the console's base URL (records and the sampling policy go to its API).
    token: a bearer token of the namespace, scope `ingest` (reading the sampling policy needs no other scope).
    namespace: the namespace records are written to; empty means the token's.
    traces_endpoint: where spans go over OTLP/HTTP; defaults to `<url>/v1/traces`. Point it at a Collector to
        send spans there instead (JOBTRACE_OTLP_ENDPOINT, or the standard OTEL_EXPORTER_OTLP_TRACES_ENDPOINT /
        OTEL_EXPORTER_OTLP_ENDPOINT); set `traces_headers` for that Collector's auth. The exporter adds the
        standard OTEL_EXPORTER_OTLP_HEADERS and _CERTIFICATE itself.
    """

    url: str = ""
    token: str = ""
    namespace: str = ""
    service_name: str = "jobtrace-worker"
    worker: str = field(default_factory=socket.gethostname)
    traces_endpoint: str = ""
    traces_headers: dict[str, str] | None = None
    # Record posts: each request's timeout, and how many attempts before the record is dropped (and logged).
    record_timeout: float = 2.0
    record_attempts: int = 3
    # How long the sender waits for more records before posting (one request per batch on a busy worker).
    record_linger: float = 0.05
    # Spans: the exporter's deadline per batch (it retries inside it, by its own rules).
    export_timeout: float = 5.0
    # Sampling policy: request timeout and how long a fetched policy is kept.
    policy_timeout: float = 1.0
    policy_ttl: float = 60.0
    # Span batching (the demo raises the queue so simulated weeks fit).
    max_queue_size: int = 8192
    max_export_batch_size: int = 512
    # At interpreter exit, how long a Jobtrace that was not shut down may spend sending what it buffered.
    exit_timeout: float = 5.0
    # gzip span exports (what a network wants; the demo on loopback turns it off to save CPU).
    compress_spans: bool = True
    # False: export each span as it ends (tests, short scripts); True: in batches from a background thread.
    batch_spans: bool = True
    # Logs: Python `logging` inside an execution or shard, exported as OTLP log records to logs_endpoint (default:
    # beside the span endpoint, `.../v1/logs`), from this level up (JOBTRACE_EXPORT_LOGS=0 turns it off).
    export_logs: bool = True
    log_level: int = logging.INFO
    logs_endpoint_override: str = ""
    # `jobtrace run`: at most this many lines of the command's stdout/stderr are sent as log records per run.
    max_output_lines: int = 5000

    @classmethod
    def from_env(cls, **overrides: object) -> Config:
        """Arguments win; the environment fills what they leave out."""
        values: dict[str, object] = {
            "url": os.environ.get("JOBTRACE_URL", ""),
            "token": os.environ.get("JOBTRACE_TOKEN", ""),
            "namespace": os.environ.get("JOBTRACE_NAMESPACE", ""),
            "traces_endpoint": os.environ.get("JOBTRACE_OTLP_ENDPOINT", ""),
            "record_timeout": _env_float("JOBTRACE_RECORD_TIMEOUT", cls.record_timeout),
            "export_timeout": _env_float("JOBTRACE_EXPORT_TIMEOUT", cls.export_timeout),
        }
        if not values["traces_endpoint"]:
            values.update(_otel_traces_endpoint(str(values["url"])))
        compression = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION") or os.environ.get(
            "OTEL_EXPORTER_OTLP_COMPRESSION"
        )
        if compression and compression.strip().lower() in ("gzip", "none"):
            values["compress_spans"] = compression.strip().lower() == "gzip"
        if os.environ.get("OTEL_SERVICE_NAME"):
            values["service_name"] = os.environ["OTEL_SERVICE_NAME"]
        if os.environ.get("JOBTRACE_EXPORT_LOGS", "").strip().lower() in ("0", "false", "no", "off"):
            values["export_logs"] = False
        if os.environ.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"):
            values["logs_endpoint_override"] = os.environ["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"].strip()
        if os.environ.get("JOBTRACE_WORKER"):
            values["worker"] = os.environ["JOBTRACE_WORKER"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")

    @property
    def enabled(self) -> bool:
        """Without a URL nothing is sent: the job still runs (and spans go nowhere unless an endpoint is set)."""
        return bool(self.url)

    @property
    def otlp_endpoint(self) -> str:
        if self.traces_endpoint:
            return self.traces_endpoint
        return f"{self.base_url}/v1/traces" if self.url else ""

    @property
    def logs_endpoint(self) -> str:
        """Where log records go: the override, else the span endpoint's `/v1/traces` replaced by `/v1/logs`."""
        if self.logs_endpoint_override:
            return self.logs_endpoint_override
        traces = self.otlp_endpoint
        if traces.endswith("/v1/traces"):
            return traces[: -len("/v1/traces")] + "/v1/logs"
        return f"{self.base_url}/v1/logs" if self.url else ""

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def _otel_traces_endpoint(jobtrace_url: str) -> dict[str, object]:
    """The span endpoint from the standard OpenTelemetry variables: the per-signal one as given, the generic one
    with `/v1/traces` appended (as the OTLP exporter specification says). The Jobtrace token goes only to the
    console itself: for an endpoint elsewhere (a Collector) the OTEL_EXPORTER_OTLP_HEADERS are its auth."""
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if not endpoint:
        base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        if not base:
            return {}
        endpoint = f"{base.rstrip('/')}/v1/traces"
    values: dict[str, object] = {"traces_endpoint": endpoint}
    if _origin(endpoint) != _origin(jobtrace_url):
        values["traces_headers"] = {}
    return values


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        port = None
    return (parts.scheme, (parts.hostname or "").lower(), port)
