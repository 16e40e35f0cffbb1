"""A script addon for bench/upload.py, loaded into every proxy it compares (so each pays the
same): how late mitmproxy's event loop wakes from a 10 ms sleep (a stall of the loop shows
as lag), and, when the sigv4 addon is loaded, the peak of the bytes its stream verifiers
have not taken yet (the backlog that must stay far below the 64 MiB give-up bound).

Every 0.25 s it appends one JSON line ``{"t", "lag_max", "lags", "behind"}`` to the file
named by the environment variable SIGV4_BENCH_MONITOR (nothing without it).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

TICK = 0.01
REPORT = 0.25


class LoopMonitor:
    def __init__(self) -> None:
        self.path = os.environ.get("SIGV4_BENCH_MONITOR")
        self.task: asyncio.Task[None] | None = None

    def running(self) -> None:
        if self.path and self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.watch())

    def _streams(self) -> list[Any]:
        from mitmproxy import ctx

        tap = ctx.master.addons.get("sigv4_stream_tap")
        return list(getattr(tap, "streams", {}).values()) if tap is not None else []

    async def watch(self) -> None:
        assert self.path is not None
        lags: list[float] = []
        behind = 0
        last = time.monotonic()
        with open(self.path, "a", encoding="utf-8") as out:
            while True:
                t = time.monotonic()
                await asyncio.sleep(TICK)
                lags.append(max(0.0, time.monotonic() - t - TICK))
                for v in self._streams():
                    behind = max(behind, int(getattr(v, "behind", 0)))
                if time.monotonic() - last >= REPORT:
                    line = {"t": time.time(), "lag_max": max(lags), "lags": lags, "behind": behind}
                    out.write(json.dumps(line) + "\n")
                    out.flush()
                    lags, behind, last = [], 0, time.monotonic()


addons = [LoopMonitor()]
