"""Verify a streamed body on a background thread, without ever making the caller wait.

A streaming upload is verified chunk by chunk as it passes through the proxy. Most of that
work is SHA-256 (and CRC), which ``hashlib`` and ``zlib`` do with the GIL released, so a
:class:`StreamVerifier` hands each chunk to a thread that feeds the
:class:`~sigv4_inspector.core.verify.VerifySession` beside mitmproxy's event loop.

The hand-off is built so the event loop never waits on hashing:

- :meth:`StreamVerifier.feed` appends a reference to the chunk (mitmproxy's ``bytes``,
  never copied) to a deque and wakes the thread only when it sleeps; the thread then takes
  everything queued in one go. No lock is held while hashing.
- When more than ``max_behind`` bytes wait, the verifier gives up on the body: what is
  queued is dropped, the rest passes untouched, and the verification says why the body
  was not checked (PAYLOAD_NOT_VERIFIED). Traffic never stalls.
- :meth:`StreamVerifier.finish` returns at once; the result arrives through
  :meth:`add_done_callback`, called on the verifying thread.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol

from sigv4_inspector.core.model import Verification

DEFAULT_MAX_BEHIND = 64 << 20  # bytes waiting to be hashed before the body is given up


class Session(Protocol):
    def feed(self, data: bytes | memoryview) -> None: ...

    def body_unknown(self) -> None: ...

    def finish(self) -> Verification: ...


class StreamVerifier:
    """``feed`` chunks in order (never raises, never waits); ``finish`` once."""

    def __init__(self, session: Session, max_behind: int = DEFAULT_MAX_BEHIND) -> None:
        self._session = session
        self._max = max_behind
        self._queue: deque[bytes | memoryview] = deque()
        self._queued = 0  # bytes in the queue (updated under the lock)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._ended = False
        self._gave_up: str | None = None
        self._result: Verification | None = None
        self._callbacks: list[Callable[[Verification], None]] = []
        self._thread = threading.Thread(target=self._run, name="sigv4-stream-verify", daemon=True)
        self._thread.start()

    @property
    def gave_up(self) -> str | None:
        """Why the body is not being checked, once the verifier gave up on it."""
        return self._gave_up

    @property
    def done(self) -> bool:
        return self._result is not None

    def result(self) -> Verification | None:
        return self._result

    def feed(self, data: bytes | memoryview) -> None:
        """Queue a chunk (the caller must not change it afterwards)."""
        if not data or self._ended or self._gave_up is not None:
            return
        with self._lock:
            if self._queued + len(data) > self._max:
                self._gave_up = (
                    f"the upload arrived faster than it could be hashed "
                    f"({self._max >> 20} MiB waited)"
                )
                self._queue.clear()
                self._queued = 0
            else:
                self._queue.append(data)
                self._queued += len(data)
        self._wake.set()

    def finish(self) -> None:
        """The body ended: verify what is queued, then call the callbacks."""
        self._ended = True
        self._wake.set()

    def add_done_callback(self, fn: Callable[[Verification], None]) -> None:
        """Call ``fn(verification)`` once the result is known (on the verifying thread, or
        at once when it already is)."""
        with self._lock:
            if self._result is None:
                self._callbacks.append(fn)
                return
        fn(self._result)

    def wait(self, timeout: float | None = None) -> Verification | None:
        """Block until the result is known (tests and scripts; never on the event loop)."""
        self._thread.join(timeout)
        return self._result

    def _run(self) -> None:
        session = self._session
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                batch = list(self._queue)
                self._queue.clear()
            for chunk in batch:
                if self._gave_up is not None:
                    break
                session.feed(chunk)  # never raises
                with self._lock:
                    self._queued -= len(chunk)
            if self._gave_up is not None or (self._ended and not self._queue):
                break
        if self._gave_up is not None:
            session.body_unknown()
        result = session.finish()
        if self._gave_up is not None:
            result.body_unchecked = self._gave_up
        with self._lock:
            self._result = result
            callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            fn(result)
