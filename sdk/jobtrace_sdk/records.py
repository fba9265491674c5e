"""Posting execution, shard and message records to the console, off the job's critical path.

A daemon thread drains a queue: records of one kind are coalesced (the latest version of one execution or
shard wins) and posted as lists (lingering `record_linger`, 50 ms, for more unless a flush is waiting), each
request with a short timeout and a bounded number of attempts. A console that is down or answers 5xx costs the
job nothing: the record is retried a little, then dropped and logged. A 4xx answer is a bad record (retrying will
not help): it is logged with the console's message. A record whose newer version was submitted while it waited
for a retry is not retried: the newer version goes instead.

After a fork (a prefork worker pool) the child starts with an empty queue and its own thread and connections.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import requests

from jobtrace_sdk.config import Config

logger = logging.getLogger("jobtrace.sdk")

EXECUTIONS = "executions"
SHARDS = "shards"
MESSAGES = "messages"
_PATHS = {EXECUTIONS: "/api/v1/executions", SHARDS: "/api/v1/shards", MESSAGES: "/api/v1/messages"}
_RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


@dataclass
class SendStats:
    posted: int = 0  # records the console accepted
    dropped: int = 0  # records given up on (console down, or rejected)
    superseded: int = 0  # records not retried because a newer version of them was queued meanwhile
    requests: int = 0


def record_key(kind: str, record: dict[str, Any]) -> tuple[str, ...]:
    if kind == EXECUTIONS:
        return (kind, record.get("namespace", ""), record["job"], record["execution_id"])
    if kind == SHARDS:
        return (kind, record.get("namespace", ""), record["job"], record["execution_id"], record["shard_id"])
    return (kind, record.get("message_id", ""))


class RecordSender:
    """Queue records with `submit`; `flush(timeout)` waits (bounded) until they are sent or given up."""

    def __init__(self, config: Config, *, batch_size: int = 500, session: requests.Session | None = None) -> None:
        self.config = config
        self.batch_size = batch_size
        self.stats = SendStats()
        self._session = session or requests.Session()
        self._pending: OrderedDict[tuple[str, ...], tuple[str, dict[str, Any]]] = OrderedDict()
        self._in_flight = 0
        self._cond = threading.Condition()
        self._closed = False
        self._missing_endpoints: set[str] = set()
        self._thread: threading.Thread | None = None
        self._hurry = False  # closing: retry without waiting (the process is about to end)
        self._flushing = 0  # callers waiting in flush(): no lingering meanwhile
        self._retrying = False  # the sender waits to retry: tell it when a newer version arrives
        self._first_pending_at = 0.0
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: (sender := ref()) is not None and sender._after_fork())

    def _after_fork(self) -> None:
        """In a forked child: the parent's queue is the parent's to send; its thread and sockets did not follow."""
        self._cond = threading.Condition()
        self._pending = OrderedDict()
        self._in_flight = 0
        self._flushing = 0
        self._thread = None
        self._session = requests.Session()

    def submit(self, kind: str, record: dict[str, Any]) -> None:
        if not self.config.enabled:
            return
        with self._cond:
            if self._closed:
                logger.warning("jobtrace: record sender is closed; dropping a %s record", kind)
                return
            key = record_key(kind, record)
            first = not self._pending
            if first:
                self._first_pending_at = time.monotonic()
            previous = self._pending.pop(key, None)
            merged = {**previous[1], **record} if previous else record
            self._pending[key] = (kind, merged)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="jobtrace-records", daemon=True)
                self._thread.start()
            # Wake the sender only when that changes what it does (a busy worker would wake it at every record).
            if first or len(self._pending) >= self.batch_size or self._retrying or not self.config.record_linger:
                self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """True when everything submitted so far was sent (or given up on) within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._pending or self._in_flight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
            finally:
                self._flushing -= 1
        return True

    def hurry(self) -> None:
        """From now on retries do not wait: the process is ending, and a wait only delays its exit."""
        with self._cond:
            self._hurry = True
            self._cond.notify_all()

    def close(self, timeout: float = 10.0) -> bool:
        done = self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        return done

    # --- the sending thread ---------------------------------------------------------------------------

    def _take_batch(self) -> tuple[str, list[dict[str, Any]]] | None:
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if not self._pending:
                return None
            # Linger a moment for more records, so a busy worker posts one request per batch, not per record;
            # a flush (or the end) does not wait.
            linger_until = self._first_pending_at + self.config.record_linger
            while (
                len(self._pending) < self.batch_size
                and not (self._flushing or self._hurry or self._closed)
                and (left := linger_until - time.monotonic()) > 0
            ):
                self._cond.wait(left)
            first_kind = next(iter(self._pending.values()))[0]
            keys = [k for k, (kind, _) in self._pending.items() if kind == first_kind][: self.batch_size]
            records = [self._pending.pop(k)[1] for k in keys]
            self._in_flight += len(records)
            self._first_pending_at = time.monotonic()
            return first_kind, records

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            kind, records = batch
            try:
                self._post(kind, records)
            except Exception:  # never let the sender thread die
                logger.exception("jobtrace: unexpected error while posting %d %s records", len(records), kind)
                self.stats.dropped += len(records)
            finally:
                with self._cond:
                    self._in_flight -= len(records)
                    self._cond.notify_all()

    def _post(self, kind: str, records: list[dict[str, Any]]) -> None:
        if kind in self._missing_endpoints:
            self.stats.dropped += len(records)
            return
        url = self.config.base_url + _PATHS[kind]
        headers = {**self.config.auth_headers(), "Content-Type": "application/json"}
        body: Any = records
        for attempt in range(1, self.config.record_attempts + 1):
            self.stats.requests += 1
            try:
                response = self._session.post(url, json=body, headers=headers, timeout=self.config.record_timeout)
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__}: {exc}"
                retry_after = None
            else:
                if response.status_code < 300:
                    self.stats.posted += len(records)
                    return
                problem = f"HTTP {response.status_code}: {response.text[:500]}"
                if response.status_code not in _RETRYABLE:
                    if response.status_code in (404, 405) and kind == MESSAGES:
                        # This console has no message endpoint: envelopes still travel on execution records.
                        self._missing_endpoints.add(kind)
                    logger.error("jobtrace: the console rejected %d %s records: %s", len(records), kind, problem)
                    self.stats.dropped += len(records)
                    return
                retry_after = _retry_after(response)
            if attempt == self.config.record_attempts:
                break
            delay = retry_after if retry_after is not None else 0.1 * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)
            if self._superseded_within(min(delay, 2.0), kind, records):
                self.stats.superseded += len(records)
                return
        logger.warning(
            "jobtrace: could not post %d %s records to %s after %d attempts (%s); the job is unaffected",
            len(records),
            kind,
            url,
            self.config.record_attempts,
            problem,
        )
        self.stats.dropped += len(records)

    def _superseded_within(self, delay: float, kind: str, records: list[dict[str, Any]]) -> bool:
        """Wait `delay` seconds before a retry; True as soon as every record has a newer version queued."""
        keys = [record_key(kind, r) for r in records]
        deadline = time.monotonic() + delay
        with self._cond:
            self._retrying = True
            try:
                return self._wait_superseded(keys, deadline)
            finally:
                self._retrying = False

    def _wait_superseded(self, keys: list[tuple[str, ...]], deadline: float) -> bool:
        with self._cond:
            while True:
                if all(k in self._pending for k in keys):
                    return True
                if self._hurry:
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After", "")
    try:
        return float(raw)
    except ValueError:
        return None
