"""Debian's Prometheus Alertmanager on loopback, started once per run, with webhook receivers chosen per test.

Alertmanager starts once, but every test has its own namespace and token (transactional tests flush the tables
between tests). So each test adds a *route*: a matcher on the label `jt_route` (its value unique to the route)
sending to a webhook receiver of its own, whose bearer token is in a credentials file of its own; adding and
removing a route is a config reload (`POST /-/reload`, answered once the new config is live), not a restart.
Alerts that match no route go to a receiver with no integrations. When the route ends, its receiver is gone and
its alerts still held are resolved, so a later test never receives an earlier test's alerts, even as repeats.

Usage (the console under test is `live_console`; the alert's labels say which route delivers it):

    with alertmanager.route(token, live_console.url) as route:
        alertmanager.post_alerts([route.alert({"alertname": "X", "job": "nightly"}, starts_at=t0)])
        stored = wait_for_console_alert(live_console.url, token, lambda a: a["status"] == "firing")

The other direction (the console posting to Alertmanager's `/api/v2/alerts` itself): point the console at
`alertmanager.url`, read what Alertmanager holds with `alertmanager.alerts('job="nightly"')`, and route the
console's own alerts back to it with `route(..., matchers=['namespace="<the test's unique namespace>"'])`.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from tests.peers.process import free_port, log_tail, require_binary, spawn, stop, wait_until

ALERTMANAGER = os.environ.get("JOBTRACE_ALERTMANAGER", "/usr/bin/prometheus-alertmanager")
ROUTE_LABEL = "jt_route"
WEBHOOK_PATH = "/api/v1/alerts/alertmanager"
NOWHERE = "nowhere"
_route_names = itertools.count(1)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Route:
    """One test's way out of Alertmanager: alerts matching `matchers` go to `webhook_url` with `token`."""

    name: str
    webhook_url: str
    token: str
    matchers: tuple[str, ...]
    send_resolved: bool = True
    group_by: tuple[str, ...] = ("...",)  # every label set its own group: one alert per notification
    group_wait: str = "100ms"
    group_interval: str = "1s"  # how soon a change (a resolved alert) is sent after the first notification
    repeat_interval: str = "1h"

    def alert(
        self,
        labels: Mapping[str, str],
        *,
        starts_at: datetime,
        ends_at: datetime | None = None,
        annotations: Mapping[str, str] | None = None,
        generator_url: str = "",
    ) -> dict[str, Any]:
        """An alert for `POST /api/v2/alerts` that this route delivers (its `jt_route` label added).

        Resolve it by posting it again with the same labels and `starts_at`, and `ends_at` now (or in the past).
        """
        body: dict[str, Any] = {
            "labels": {ROUTE_LABEL: self.name, **labels},
            "annotations": dict(annotations or {}),
            "startsAt": rfc3339(starts_at),
        }
        if ends_at is not None:
            body["endsAt"] = rfc3339(ends_at)
        if generator_url:
            body["generatorURL"] = generator_url
        return body


@dataclass
class Alertmanager:
    url: str
    workdir: Path
    pid: int = 0
    routes: dict[str, Route] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.workdir / "alertmanager.yml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "alertmanager.log"

    def _credentials(self, route: Route) -> Path:
        return self.workdir / "tokens" / route.name

    def write_config(self) -> None:
        """The whole config from the current routes (JSON, which is YAML: no YAML writer needed)."""
        receivers: list[dict[str, Any]] = [{"name": NOWHERE}]
        routes: list[dict[str, Any]] = []
        for route in self.routes.values():
            credentials = self._credentials(route)
            credentials.parent.mkdir(mode=0o700, exist_ok=True)
            credentials.write_text(route.token)
            credentials.chmod(0o600)
            receivers.append(
                {
                    "name": route.name,
                    "webhook_configs": [
                        {
                            "url": route.webhook_url,
                            "send_resolved": route.send_resolved,
                            "max_alerts": 0,
                            "http_config": {"authorization": {"type": "Bearer", "credentials_file": str(credentials)}},
                        }
                    ],
                }
            )
            routes.append(
                {
                    "receiver": route.name,
                    "matchers": list(route.matchers),
                    "group_by": list(route.group_by),
                    "group_wait": route.group_wait,
                    "group_interval": route.group_interval,
                    "repeat_interval": route.repeat_interval,
                }
            )
        config = {
            "route": {
                "receiver": NOWHERE,
                "group_by": ["..."],
                "group_wait": "100ms",
                "group_interval": "1s",
                "repeat_interval": "1h",
                "routes": routes,
            },
            "receivers": receivers,
        }
        self.config_path.write_text(json.dumps(config, indent=2))

    def reload(self) -> None:
        """Apply the current routes: Alertmanager answers once the new config is live (500 with why if not)."""
        self.write_config()
        response = requests.post(f"{self.url}/-/reload", timeout=10)
        if response.status_code != 200:
            raise RuntimeError(f"Alertmanager refused its config: {response.status_code} {response.text.strip()}")

    @contextmanager
    def route(
        self,
        token: str,
        console_url: str,
        *,
        matchers: Sequence[str] | None = None,
        path: str = WEBHOOK_PATH,
        **timing: Any,
    ) -> Iterator[Route]:
        """A receiver posting to `console_url + path` with `token`, for alerts matching `matchers`.

        By default the matcher is `jt_route="<route name>"`, which `Route.alert` adds to the labels. `timing`
        overrides Route's send_resolved, group_by, group_wait, group_interval, repeat_interval.
        """
        name = f"r{next(_route_names)}"
        route = Route(
            name=name,
            webhook_url=f"{console_url.rstrip('/')}{path}",
            token=token,
            matchers=tuple(matchers) if matchers else (f'{ROUTE_LABEL}="{name}"',),
            **timing,
        )
        self.routes[name] = route
        try:
            self.reload()
            yield route
        finally:
            del self.routes[name]
            self.reload()
            self._resolve(route.matchers)
            self._credentials(route).unlink(missing_ok=True)

    def _resolve(self, matchers: Sequence[str]) -> None:
        """End every alert still held that matches, so none reaches a later route (there is no delete API)."""
        now = rfc3339(datetime.now(UTC))
        held = self.alerts(*matchers)
        if held:
            self.post_alerts(
                [
                    {
                        "labels": a["labels"],
                        "annotations": a.get("annotations", {}),
                        "startsAt": a["startsAt"],
                        "endsAt": now,
                    }
                    for a in held
                ]
            )

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """`POST /api/v2/alerts`, as Prometheus (or the console) sends them."""
        response = requests.post(f"{self.url}/api/v2/alerts", json=list(alerts), timeout=10)
        if response.status_code != 200:
            raise AssertionError(f"Alertmanager refused the alerts: {response.status_code} {response.text.strip()}")

    def alerts(self, *matchers: str, active: bool = True, silenced: bool = True, inhibited: bool = True):
        """`GET /api/v2/alerts?filter=...`: the alerts Alertmanager holds now (resolved ones are not listed)."""
        params: list[tuple[str, str]] = [("filter", m) for m in matchers]
        params += [("active", str(active).lower()), ("silenced", str(silenced).lower())]
        params += [("inhibited", str(inhibited).lower())]
        response = requests.get(f"{self.url}/api/v2/alerts", params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def log_tail(self) -> str:
        return log_tail(self.log_path)


@contextmanager
def serve_alertmanager() -> Iterator[Alertmanager]:
    """Alertmanager on a free loopback port with its own config and storage in a temp dir; stopped on exit."""
    binary = require_binary(ALERTMANAGER, "make peers")
    workdir = Path(tempfile.mkdtemp(prefix="jobtrace-alertmanager-"))
    process = None
    try:
        for attempt in range(3):  # a free port can be taken by someone else before Alertmanager binds it
            port = free_port()
            manager = Alertmanager(url=f"http://127.0.0.1:{port}", workdir=workdir)
            manager.write_config()
            process = spawn(
                [
                    binary,
                    f"--config.file={manager.config_path}",
                    f"--storage.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    f"--web.external-url={manager.url}",
                    "--cluster.listen-address=",  # no gossip: one instance, no port 9094
                    "--log.level=debug",  # "Notify success" lines are debug: kept for a failing test's message
                ],
                log=manager.log_path,
            )
            if _ready(manager.url, process):
                manager.pid = process.pid
                break
            stop(process)
            if "address already in use" not in manager.log_tail() or attempt == 2:
                raise RuntimeError(f"Alertmanager did not start: {manager.log_tail()}")
        yield manager
    finally:
        if process is not None:
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def _ready(url: str, process: Any, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return True
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    return False


def console_alerts(console_url: str, token: str, **params: str) -> list[dict[str, Any]]:
    """`GET /api/v1/alerts` of the console, as the token sees them (first page: newest first)."""
    response = requests.get(
        f"{console_url}/api/v1/alerts", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    response.raise_for_status()
    return response.json()["results"]


def wait_for_console_alert(
    console_url: str,
    token: str,
    predicate: Callable[[dict[str, Any]], bool],
    *,
    alertmanager: Alertmanager | None = None,
    timeout: float = 15,
    **params: str,
) -> dict[str, Any]:
    """Poll the console's `GET /api/v1/alerts` until an alert satisfies `predicate`; that alert.

    On timeout the error says what the console holds and, given `alertmanager`, the end of its log.
    """

    def found() -> dict[str, Any] | None:
        return next((a for a in console_alerts(console_url, token, **params) if predicate(a)), None)

    try:
        return wait_until(found, timeout=timeout, interval=0.1, what="the console to receive the notification")
    except AssertionError as exc:
        held = console_alerts(console_url, token, **params)
        tail = alertmanager.log_tail() if alertmanager else ""
        raise AssertionError(f"{exc}; the console holds {held!r}\nAlertmanager's log:\n{tail}") from None
