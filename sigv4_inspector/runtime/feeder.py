"""Verify a streamed body on a background thread, without ever making the caller wait.

A streaming upload is verified chunk by chunk as it passes through the proxy. Most of that
work is SHA-256 (and CRC), which ``hashlib`` does with the GIL released, so a
:class:`StreamVerifier` hands each chunk to a thread that feeds the
:class:`~sigv4_inspector.core.verify.VerifySession` beside mitmproxy's event loop.

The hand-off is built so the event loop never waits on hashing, and so the two threads
trade the GIL as seldom as possible (bench/upload.py measures it; docs/benchmarks.md):

- :meth:`StreamVerifier.feed` appends a reference to the chunk (mitmproxy's ``bytes``,
  never copied) to a deque and counts it: no lock, no wake-up. A sleeping thread is woken
  only once ``WAKE_AT`` bytes wait (or the body ends), not once per network read. Each
  wake-up, and each time the thread needs the GIL back while the event loop holds it,
  costs both threads a futex round trip, which on a small VM costs more than hashing
  the 64 KiB read itself.
- The thread takes up to ``FEED_AT_ONCE`` bytes of queued reads and feeds them to the
  session as one buffer (one copy, done beside the event loop): the aws-chunked decoder
  then runs once per megabyte instead of once per read, and each chunk's data is hashed
  in one ``update`` (one GIL release and re-take per chunk, not one per read it spans).
- When the thread falls ``HELP_AT`` bytes behind (the machine's other core is busy, or
  the thread keeps losing the GIL to the event loop), it hands the session over at its
  next batch, and the event loop verifies what is queued itself, a slice of at most
  ``LOOP_SLICE`` bytes per network read besides the read itself. The upload then goes at
  the pace hashing allows on one core, the queue drains, and the session goes back to
  the thread. The loop never waits for the thread or on a lock: it does bounded work,
  at most ``LOOP_SLICE`` bytes plus the read (about 256 KiB, a fraction of a millisecond
  of SHA-256) per read it handles, and only while the thread is behind. This is the one
  place the event loop hashes.
- When more than ``max_behind`` bytes wait all the same (the thread is stuck inside a
  batch), the verifier gives up on the body: what is queued is dropped, the rest passes
  untouched, and the verification says why the body was not checked
  (PAYLOAD_NOT_VERIFIED). Traffic never stalls.
- :meth:`StreamVerifier.finish` returns at once; the result arrives through
  :meth:`add_done_callback`, called on the verifying thread.

``feed`` and ``finish`` are called from one thread (mitmproxy's event loop). The session
and the count of bytes taken belong to one thread at a time (the verifying thread, or the
event loop while it helps), handed over only between batches, so no lock is needed.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol

from sigv4_inspector.core.model import Verification

DEFAULT_MAX_BEHIND = 64 << 20  # bytes waiting to be hashed before the body is given up
WAKE_AT = 1 << 20  # bytes waiting before a sleeping verifier thread is woken
FEED_AT_ONCE = 1 << 20  # bytes of queued reads joined into one feed of the session
HELP_AT = 8 << 20  # bytes behind before the event loop verifies what is queued itself
LOOP_SLICE = 192 << 10  # bytes of the queue the event loop verifies per read while it helps


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
        self._fed = 0  # bytes queued so far (written by the feeding thread only)
        self._done = 0  # bytes taken off the queue (written by the session's owner only)
        self._sleeping = False  # the verifying thread waits (or is about to) for a wake-up
        self._takeover = False  # the event loop asks for the session (the thread is behind)
        self._loop_owns = False  # the event loop has the session (the thread waits)
        self.helped = 0  # bytes the event loop verified itself
        self._wake = threading.Event()
        self._lock = threading.Lock()  # the result and the callbacks
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

    @property
    def behind(self) -> int:
        """Bytes fed and not yet taken by the verifying thread."""
        return self._fed - self._done

    def result(self) -> Verification | None:
        return self._result

    def feed(self, data: bytes | memoryview) -> None:
        """Queue a chunk (the caller must not change it afterwards)."""
        if not data or self._ended or self._gave_up is not None:
            return
        fed = self._fed + len(data)
        if fed - self._done > self._max:
            self._gave_up = (
                f"the upload arrived faster than it could be hashed ({self._max >> 20} MiB waited)"
            )
            self._queue.clear()
            self._wake.set()
            return
        self._queue.append(data)
        self._fed = fed
        if self._loop_owns:
            self._help()
            return
        behind = fed - self._done
        if behind >= HELP_AT:
            self._takeover = True  # taken up by the thread between two batches
        if self._sleeping and behind >= WAKE_AT:
            self._sleeping = False
            self._wake.set()

    def _help(self) -> None:
        """Verify the oldest queued reads on the event loop (it owns the session), at most
        LOOP_SLICE bytes beside the read just queued; once the queue is empty, hand the
        session back to the thread."""
        session, queue = self._session, self._queue
        budget = LOOP_SLICE + len(queue[-1])
        while budget > 0 and queue:
            piece = queue.popleft()
            session.feed(piece)  # never raises
            self._done += len(piece)
            self.helped += len(piece)
            budget -= len(piece)
        if not queue:
            self._give_back()

    def _give_back(self) -> None:
        self._takeover = False
        self._loop_owns = False
        self._sleeping = False
        self._wake.set()

    def finish(self) -> None:
        """The body ended: the thread verifies what is queued, then calls the callbacks."""
        self._ended = True
        self._give_back()

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
        session, queue = self._session, self._queue
        while self._gave_up is None:
            if self._takeover and not self._ended:
                self._takeover = False
                self._loop_owns = True  # the session is the event loop's until it gives it back
                if self._ended:  # the body ended meanwhile: finish() gave it back before this
                    self._loop_owns = False
            if self._loop_owns or not queue:
                if self._ended and not self._loop_owns and not queue:
                    break
                # announce the sleep, then look again: a feed or a give-back that came in
                # between either is seen here or sees the flag and wakes the thread
                self._sleeping = True
                if not self._loop_owns and (
                    self._ended or self._takeover or self._fed - self._done >= WAKE_AT
                ):
                    self._sleeping = False
                    continue
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            parts: list[bytes | memoryview] = []
            size = 0
            while size < FEED_AT_ONCE:
                try:
                    piece = queue.popleft()
                except IndexError:  # empty, or cleared by a give-up
                    break
                parts.append(piece)
                size += len(piece)
            if self._gave_up is not None:
                break
            if parts:
                session.feed(parts[0] if len(parts) == 1 else b"".join(parts))  # never raises
            self._done += size
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
