"""The HTTP task runner: the scheduler side of a job whose work is an HTTP endpoint in a service without the SDK
(a C++ or Go service, say). It starts the execution, calls the URL with `traceparent` and the job baggage, and
records the execution from the response: 2xx succeeded, anything else (or no answer) failed with the reason.
The service's own spans join the same trace through the propagated context.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from opentelemetry.trace import SpanKind, Status, StatusCode

from jobtrace_sdk.client import Jobtrace
from jobtrace_sdk.propagation import inject_headers


@dataclass(frozen=True)
class HttpTaskResult:
    execution_id: str
    trace_id: str
    status: str  # the execution's status: succeeded or failed
    status_code: int | None  # None when no response came back
    body: str
    error: str

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


class HttpTaskRunner:
    def __init__(self, jt: Jobtrace, *, timeout: float = 30.0, session: requests.Session | None = None) -> None:
        self.jt = jt
        self.timeout = timeout
        self.session = session or requests.Session()

    def run(
        self,
        job: str,
        url: str,
        *,
        method: str = "POST",
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        on_response: Callable[[requests.Response], None] | None = None,
        **execution_options: Any,
    ) -> HttpTaskResult:
        """Invoke `url` as one execution of `job` (execution options as for `Jobtrace.execution`)."""
        params = dict(execution_options.pop("params", None) or {})
        params.setdefault("url", url)
        params.setdefault("method", method)
        execution_options.setdefault("worker", urlsplit(url).netloc)
        response: requests.Response | None = None
        with self.jt.execution(job, params=params, **execution_options) as run:
            attributes = {"http.request.method": method, "url.full": url, "server.address": urlsplit(url).hostname}
            with self.jt.span(
                f"{method} {urlsplit(url).path or '/'}", kind=SpanKind.CLIENT, attributes=attributes
            ) as span:
                outgoing = inject_headers(dict(headers or {}))
                try:
                    response = self.session.request(method, url, json=json, headers=outgoing, timeout=self.timeout)
                except requests.RequestException as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    span.set_status(Status(StatusCode.ERROR, error))
                    run.fail(f"no response from {url}: {error}")
                else:
                    if on_response is not None:
                        on_response(response)
                    span.set_attribute("http.response.status_code", response.status_code)
                    if response.status_code >= 400:
                        reason = f"HTTP {response.status_code} from {url}: {response.text[:500]}"
                        span.set_status(Status(StatusCode.ERROR, reason))
                        run.fail(reason)
        return HttpTaskResult(
            execution_id=run.execution_id,
            trace_id=run.trace_id,
            status=run.status,
            status_code=response.status_code if response is not None else None,
            body=response.text if response is not None else "",
            error=run.error,
        )
