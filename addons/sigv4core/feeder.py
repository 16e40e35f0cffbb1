"""Verify a streamed body on a background thread.

A streaming upload is verified chunk by chunk as it passes through the proxy. Most of that
work is SHA-256, and ``hashlib`` releases the GIL for large buffers. A :class:`ThreadedFeeder`
hands each chunk to a thread that feeds the :class:`~sigv4core.verify.VerifySession`, so
the hashing runs beside the proxy's event loop instead of on it. The queue is bounded in
bytes: when the thread falls behind, ``feed`` waits, so memory stays bounded.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Protocol

from sigv4core.model import Verification


class Session(Protocol):
    def feed(self, data: bytes | memoryview) -> None: ...

    def finish(self) -> Verification: ...


class ThreadedFeeder:
    """``feed`` chunks in order (never raises); ``finish`` once for the verification."""

    def __init__(self, session: Session, max_bytes: int = 8 << 20) -> None:
        self._session = session
        self._max = max_bytes
        self._queue: deque[bytes | memoryview | None] = deque()
        self._queued = 0
        self._cond = threading.Condition()
        self._result: Verification | None = None
        self._thread = threading.Thread(target=self._run, name="sigv4-stream-verify", daemon=True)
        self._thread.start()

    def feed(self, data: bytes | memoryview) -> None:
        """Queue a chunk (the caller must not change it afterwards); waits while more than
        ``max_bytes`` are queued."""
        if not data:
            return
        with self._cond:
            while self._queued > self._max and self._thread.is_alive():
                self._cond.wait(0.5)
            self._queue.append(data)
            self._queued += len(data)
            self._cond.notify_all()

    def finish(self) -> Verification:
        """Wait for the queued chunks to be verified; the session's result."""
        with self._cond:
            self._queue.append(None)
            self._cond.notify_all()
        self._thread.join()
        if self._result is None:  # the thread died: finish here
            self._result = self._session.finish()
        return self._result

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                item = self._queue.popleft()
            if item is None:
                self._result = self._session.finish()
                return
            self._session.feed(item)  # never raises
            with self._cond:
                self._queued -= len(item)
                self._cond.notify_all()
