"""The one place where a wrapped command's output passes through `jobtrace run`.

The child writes into two pipes; a thread per pipe copies every chunk, byte for byte and as it arrives, to the
wrapper's own stdout or stderr (the terminal, the cron mail, the container log), then hands the same chunk to the
sinks subscribed to that stream. Today one sink exists: `Tail`, the last 8 KiB of stderr, which becomes the error
of a failed run. A later log sink (the child's lines as OTLP log records, stamped with the execution's trace and
span ids) subscribes here the same way and sees every byte too; nothing else reads the child's output.

A reader that goes away (`jobtrace run ... | head`) closes our end of the child's pipe, so the child sees EPIPE or
SIGPIPE exactly as it would writing to `head` directly.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import IO, Protocol

CHUNK = 64 * 1024
TAIL_BYTES = 8 * 1024
STDOUT = "stdout"
STDERR = "stderr"


class Sink(Protocol):
    """Receives the child's output of the streams it subscribed to, chunk by chunk (not split into lines)."""

    def feed(self, stream: str, data: bytes) -> None: ...


class Tail:
    """The last `limit` bytes of what it was fed, as text cut at a line start when it overflowed."""

    def __init__(self, limit: int = TAIL_BYTES) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self._overflowed = False
        self._lock = threading.Lock()

    def feed(self, stream: str, data: bytes) -> None:
        with self._lock:
            self._buffer += data[-self.limit :]
            if len(self._buffer) > self.limit:
                del self._buffer[: len(self._buffer) - self.limit]
                self._overflowed = True

    def text(self) -> str:
        with self._lock:
            data = bytes(self._buffer)
            overflowed = self._overflowed
        if overflowed:
            # Drop the partial first line (and a partial UTF-8 sequence with it) when one is within reach.
            newline = data.find(b"\n", 0, 1024)
            if newline != -1:
                data = data[newline + 1 :]
        text = data.decode("utf-8", errors="replace")
        return f"[…]\n{text}" if overflowed else text


class OutputPump:
    """Copies the child's stdout and stderr pipes to our own fds and to the subscribed sinks."""

    def __init__(self, sinks: dict[str, Sequence[Sink]] | None = None, *, stdout_fd: int = 1, stderr_fd: int = 2):
        self.sinks = {STDOUT: list((sinks or {}).get(STDOUT, ())), STDERR: list((sinks or {}).get(STDERR, ()))}
        self.targets = {STDOUT: stdout_fd, STDERR: stderr_fd}
        self.bytes = {STDOUT: 0, STDERR: 0}
        self._threads: list[threading.Thread] = []
        self._last_read = time.monotonic()

    def start(self, stdout: IO[bytes] | None, stderr: IO[bytes] | None) -> None:
        for stream, pipe in ((STDOUT, stdout), (STDERR, stderr)):
            if pipe is None:
                continue
            thread = threading.Thread(target=self._copy, args=(stream, pipe), name=f"jobtrace-{stream}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def drain(self, idle: float = 0.2, limit: float = 2.0) -> bool:
        """After the child exited: wait until both pipes reached end of file. What is left in a pipe takes
        milliseconds; a background grandchild that kept the pipe open would hold it for ever, so waiting stops
        once nothing was read for `idle` seconds, or after `limit`. True when both pipes were read to the end."""
        started = time.monotonic()
        deadline = started + limit
        for thread in self._threads:
            while thread.is_alive():
                now = time.monotonic()
                if now >= deadline or now - max(self._last_read, started) >= idle:
                    return False
                thread.join(min(0.05, deadline - now))
        return True

    def _copy(self, stream: str, pipe: IO[bytes]) -> None:
        fd = pipe.fileno()
        target = self.targets[stream]
        sinks = self.sinks[stream]
        forwarding = True
        try:
            while True:
                try:
                    data = os.read(fd, CHUNK)
                except OSError:
                    return
                if not data:
                    return
                self._last_read = time.monotonic()
                self.bytes[stream] += len(data)
                if forwarding:
                    forwarding = _write_all(target, data)
                    if not forwarding:
                        # Our reader went away: so does the child's, as if it wrote there directly.
                        return
                for sink in sinks:
                    sink.feed(stream, data)
        finally:
            pipe.close()


def _write_all(fd: int, data: bytes) -> bool:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except InterruptedError:
            continue
        except OSError:  # EPIPE (reader gone), EBADF (stdout closed): stop forwarding
            return False
        view = view[written:]
    return True
