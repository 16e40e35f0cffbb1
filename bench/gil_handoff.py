"""Why a hashing thread cannot keep up beside mitmproxy's event loop (issue 17, target 1):
how fast a thread hashes when it must take the GIL back after every ``hashlib`` call.

    .venv/bin/python bench/gil_handoff.py [--seconds 2] [--repeats 3]

A thread hashes a buffer in pieces of 64 KiB (one aws-chunked chunk of the SDKs) or 1 MiB,
one ``hashlib.sha256`` call per piece (each releases the GIL while it hashes and takes it
back after). Beside it the main thread is idle, runs Python bytecode only, or relays data
through an asyncio event loop the way mitmproxy streams a body (64 KiB reads from one
socket written to another). Printed: the thread's MiB/s in each case (the median of the
repeats), and the relay's own MiB/s with and without the thread, for Python's default
switch interval (5 ms) and a short one (0.5 ms); and, for comparison, the relay when it
also sends what it reads to a separate process that hashes it (no GIL shared), each read
at once or a MiB of reads in one ``sendmsg``.

The stream verifier (``sigv4_inspector/runtime/feeder.py``) hashes each aws-chunked chunk
in one call, so it takes the GIL back once per chunk; this shows what that costs.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import partial

BUFFER = os.urandom(8 << 20)


def hasher(piece: int, stop: threading.Event, out: list[int]) -> None:
    view, done = memoryview(BUFFER), 0
    while not stop.is_set():
        for i in range(0, len(view), piece):
            hashlib.sha256(view[i : i + piece]).digest()
        done += len(view)
    out.append(done)


def idle(seconds: float) -> int:
    time.sleep(seconds)
    return 0


def python_only(seconds: float) -> int:
    end, x = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        for _ in range(1000):
            x += 1
    return 0


#: A hashing process: reads its stdin (a socket) and hashes it in 64 KiB pieces.
CHILD = """
import hashlib, os
buf = bytearray(64 << 10); view = memoryview(buf); n = 0
while k := os.readv(0, [view[n:]]):
    n += k
    if n == len(buf):
        hashlib.sha256(view).digest(); n = 0
"""


def relay(seconds: float, tee: int = 0) -> int:
    """Bytes relayed in ``seconds`` by an event loop: a writer, a relay (read 64 KiB from
    one socket, write it to the other) and a reader, all on one loop. ``tee``: the relay
    also sends what it reads to a process that hashes it (no GIL shared), ``tee`` bytes at
    a time (one ``sendmsg`` of the reads' own buffers, no copy in Python)."""

    async def main() -> int:
        child = None
        if tee:
            c_mine, c_theirs = socket.socketpair()
            child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=c_theirs.fileno())
            c_theirs.close()
            c_mine.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        pending: list[bytes] = []
        waiting = 0
        a_in, a_out = socket.socketpair()
        b_in, b_out = socket.socketpair()
        for s in (a_in, a_out, b_in, b_out):
            s.setblocking(False)
        loop = asyncio.get_running_loop()
        end = time.perf_counter() + seconds
        relayed = 0
        block = BUFFER[: 64 << 10]

        async def write() -> None:
            while time.perf_counter() < end:
                await loop.sock_sendall(a_in, block)

        async def forward() -> None:
            nonlocal relayed, waiting
            while time.perf_counter() < end:
                data = await loop.sock_recv(a_out, 64 << 10)
                await loop.sock_sendall(b_in, data)
                relayed += len(data)
                if child is None:
                    continue
                pending.append(data)
                waiting += len(data)
                if waiting >= tee:  # the child keeps up here: a blocking send returns soon
                    views = [memoryview(p) for p in pending]
                    while views:
                        sent = c_mine.sendmsg(views)
                        while views and sent >= len(views[0]):
                            sent -= len(views.pop(0))
                        if views:
                            views[0] = views[0][sent:]
                    pending.clear()
                    waiting = 0

        async def read() -> None:
            while time.perf_counter() < end:
                await loop.sock_recv(b_out, 256 << 10)

        tasks = [asyncio.ensure_future(f()) for f in (write, forward, read)]
        await asyncio.sleep(seconds)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for s in (a_in, a_out, b_in, b_out):
            s.close()
        if child is not None:
            c_mine.close()
            child.wait()
        return relayed

    return asyncio.run(main())


def measure(work: Callable[[float], int], piece: int | None, seconds: float) -> tuple[float, float]:
    """(the thread's MiB/s, the main thread's relayed MiB/s); ``piece`` None: no thread."""
    stop, out = threading.Event(), list[int]()
    thread = None
    if piece is not None:
        thread = threading.Thread(target=hasher, args=(piece, stop, out))
        thread.start()
    t = time.perf_counter()
    relayed = work(seconds)
    elapsed = time.perf_counter() - t
    stop.set()
    if thread is not None:
        thread.join()
    hashed = out[0] if out else 0
    return hashed / elapsed / 2**20, relayed / elapsed / 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="0.3 s, one repeat")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.repeats = 0.3, 1

    def median(work: Callable[[float], int], piece: int | None) -> tuple[float, float]:
        got = [measure(work, piece, args.seconds) for _ in range(args.repeats)]
        return statistics.median(g[0] for g in got), statistics.median(g[1] for g in got)

    default = sys.getswitchinterval()
    print(f"a thread hashing {len(BUFFER) >> 20} MiB over and over, one sha256 call per piece")
    for interval in (default, 0.0005):
        sys.setswitchinterval(interval)
        print(f"-- switch interval {interval * 1000:g} ms")
        alone = median(relay, None)[1]
        print(f"  the relay alone: {alone:,.0f} MiB/s")
        for piece in (64 << 10, 1 << 20):
            name = f"{piece >> 10} KiB pieces"
            rows = [(w.__name__, *median(w, piece)) for w in (idle, python_only, relay)]
            cells = ", ".join(f"beside {w.replace('_', ' ')} {h:,.0f}" for w, h, _ in rows)
            print(f"  {name:16}: the thread hashes MiB/s: {cells}")
            print(
                f"  {'':16}  the relay beside it: {rows[2][2]:,.0f} MiB/s ({rows[2][2] / alone:.2f} of alone)"
            )
    sys.setswitchinterval(default)
    print("-- no thread: a hashing process (no GIL shared)")
    alone = median(relay, None)[1]
    print(f"  the relay alone: {alone:,.0f} MiB/s")
    for batch in (64 << 10, 1 << 20):
        teed = median(partial(relay, tee=batch), None)[1]
        print(
            f"  the relay sending its reads to the process {batch >> 10} KiB at a time: "
            f"{teed:,.0f} MiB/s ({teed / alone:.2f} of alone; the process hashes all of it)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
