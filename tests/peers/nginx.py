"""Debian's nginx as the balancer in front of several console instances, on loopback, with its own config.

Everything nginx writes (pid, logs, request-body and proxy temp files) is inside its temp dir; it runs in the
foreground (`daemon off`) as a child of the test process. The config is the front docs/nginx.conf.example shows:
HTTP/1.1 with keepalive to the upstreams, the request body read whole before it is passed on (chunked uploads
reach the console with a Content-Length), 20 MiB bodies (the console's OTLP limit), and two things only tests
need: an `X-Upstream` response header and an access log naming the upstream of every request.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.peers.process import free_port, log_tail, require_binary, spawn, stop

NGINX = os.environ.get("JOBTRACE_NGINX", "/usr/sbin/nginx")
MAX_BODY = "20m"  # console/settings.py OTLP_MAX_BODY_BYTES' default, 20 MiB

_CONFIG = """\
# Written by tests/peers/nginx.py: the balancer the tests put in front of several console instances.
{user}worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;

events {{
    worker_connections 256;
}}

http {{
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    log_format upstreams '$upstream_addr $upstream_status $status $request_method $uri $request_length';
    access_log {dir}/access.log upstreams;

    upstream console {{
        {servers}
        keepalive 16;
    }}

    server {{
        listen 127.0.0.1:{port};
        client_max_body_size {max_body};
        client_body_buffer_size 1m;
        proxy_request_buffering on;

        location / {{
            proxy_pass http://console;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 60s;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


@dataclass(frozen=True)
class Balancer:
    url: str
    pid: int
    workdir: Path
    upstreams: tuple[str, ...]  # host:port of each, as nginx names them in X-Upstream and its log

    @property
    def access_log(self) -> Path:
        return self.workdir / "access.log"

    def log_offset(self) -> int:
        """Where the access log ends now: pass it to `requests_by_upstream` to count only what follows."""
        return self.access_log.stat().st_size if self.access_log.exists() else 0

    def requests_by_upstream(self, since: int = 0, uri: str | None = None) -> Counter[tuple[str, str]]:
        """(upstream host:port, upstream status) -> requests, from the access log after offset `since`.

        A request nginx passed on twice (the first upstream failed) counts once for each.
        """
        counts: Counter[tuple[str, str]] = Counter()
        with self.access_log.open("rb") as log:
            log.seek(since)
            for line in log.read().decode(errors="replace").splitlines():
                addrs, statuses, _status, _method, path, _length = line.split(" ")
                if uri is not None and path != uri:
                    continue
                for addr, status in zip(addrs.split(", "), statuses.split(", "), strict=False):
                    counts[(addr, status)] += 1
        return counts

    def error_log(self) -> str:
        return log_tail(self.workdir / "error.log")


def write_config(workdir: Path, port: int, upstreams: Sequence[str], max_body: str = MAX_BODY) -> Path:
    # A master running as root hands the connections to workers of the `user` directive (default nobody), who
    # could not write request bodies into a temp dir only root may enter: keep them as this user instead.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    servers = "\n        ".join(f"server {address} max_fails=0;" for address in upstreams)
    config = workdir / "nginx.conf"
    config.write_text(_CONFIG.format(user=user, dir=workdir, port=port, servers=servers, max_body=max_body))
    return config


@contextmanager
def serve_nginx(upstream_urls: Sequence[str], max_body: str = MAX_BODY) -> Iterator[Balancer]:
    """nginx balancing (round robin) over `upstream_urls` (http://host:port), on a free loopback port."""
    binary = require_binary(NGINX, "make peers")
    upstreams = tuple(urlsplit(url).netloc for url in upstream_urls)
    workdir = Path(tempfile.mkdtemp(prefix="jobtrace-nginx-"))
    process = None
    try:
        for attempt in range(3):  # a free port can be taken by someone else before nginx binds it
            port = free_port()
            config = write_config(workdir, port, upstreams, max_body)
            command = [binary, "-p", str(workdir), "-c", str(config), "-e", str(workdir / "error.log")]
            process = spawn(command, log=workdir / "stderr.log")
            url = f"http://127.0.0.1:{port}"
            if _listening(url, process):
                break
            stop(process)
            if "Address already in use" not in log_tail(workdir / "error.log") or attempt == 2:
                raise RuntimeError(f"nginx did not start: {log_tail(workdir / 'error.log')}")
        yield Balancer(url=url, pid=process.pid, workdir=workdir, upstreams=upstreams)
    finally:
        if process is not None:
            stop(process)  # SIGTERM: nginx's fast shutdown, workers included
        shutil.rmtree(workdir, ignore_errors=True)


def _listening(url: str, process: Any, timeout: float = 10) -> bool:
    """nginx answers (any status: the upstreams' health is not the balancer's)."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        try:
            requests.get(f"{url}/healthz", timeout=2)
            return True
        except requests.ConnectionError:
            time.sleep(0.05)
    return False
