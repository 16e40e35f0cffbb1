"""Python's GIL switch interval, shortened while the addon's threads work beside mitmproxy's
event loop.

A thread that holds the GIL keeps it until Python's switch interval (5 ms by default) runs
out, so each wake-up of the event loop (a read ready, a write done) could wait that long
behind the addon's heavy-flow thread. While it works, the interval is 0.5 ms
(``SHORT_S``); it is put back when the last heavy flow is done. bench/hostile.py measures
the effect (docs/benchmarks.md). Streamed uploads do not use it: with the stream
verifier's thread, a short interval made small requests beside an upload slower (p95
ratio 1.33 -> 1.71, bench/upload.py), the thread then falling behind more often.
"""

from __future__ import annotations

import sys
import threading

SHORT_S = 0.0005  # the switch interval while an addon thread works


class ShortSwitch:
    """A count of the threads at work; the interval is short while it is above zero.
    ``acquire`` and ``release`` may be called from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._saved: float | None = None

    def acquire(self) -> None:
        with self._lock:
            if self._count == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, SHORT_S))
            self._count += 1

    def release(self) -> None:
        with self._lock:
            if self._count == 0:
                return
            self._count -= 1
            if self._count == 0 and self._saved is not None:
                sys.setswitchinterval(self._saved)
                self._saved = None


SWITCH = ShortSwitch()
