"""One watchdog per process: runs a function when a deadline passes, unless the caller finished first.

Used where a blocked read must be cut from outside: a client trickling a request body (console/bodies.py shuts
the socket's read side, so the blocked read returns end-of-file). One daemon thread (a greenlet under gunicorn's
gevent worker, whose monkey-patching makes `threading` cooperative) and a heap: arming costs a lock and a push, so
every request body can have one.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Timer:
    """An armed deadline; `cancel()` it when the guarded work is done. `fired` says whether it ran."""

    __slots__ = ("_callback", "_lock", "fired", "when")

    def __init__(self, when: float, callback: Callable[[], None], lock: threading.Lock) -> None:
        self.when = when
        self._callback: Callable[[], None] | None = callback
        self._lock = lock
        self.fired = False

    def __lt__(self, other: Timer) -> bool:
        return self.when < other.when

    def cancel(self) -> None:
        with self._lock:
            self._callback = None

    def _take(self) -> Callable[[], None] | None:
        callback, self._callback = self._callback, None
        if callback is not None:
            self.fired = True
        return callback


class Watchdog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._pid = 0  # the process whose thread serves the heap (gunicorn forks workers after import)

    def arm(self, seconds: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(time.monotonic() + seconds, callback, self._lock)
        with self._lock:
            if self._pid != os.getpid():
                self._start()
            heapq.heappush(self._heap, (timer.when, next(self._order), timer))
            if self._heap[0][2] is timer:
                self._wake.notify()
        return timer

    def _start(self) -> None:
        self._pid = os.getpid()
        self._heap.clear()
        threading.Thread(target=self._run, name="jobtrace-watchdog", daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._lock:
                callback = None
                while callback is None:
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        callback = heapq.heappop(self._heap)[2]._take()
                    else:
                        self._wake.wait(self._heap[0][0] - now if self._heap else None)
            try:
                callback()
            except Exception:  # a failing callback must not stop the watchdog
                logger.exception("watchdog callback failed")


watchdog = Watchdog()
