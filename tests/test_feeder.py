"""The streamed-body verifier thread (sigv4core.feeder): same verification as feeding the
session directly, in order, with a bounded queue."""

from __future__ import annotations

import threading
import time

from sigv4core.feeder import ThreadedFeeder
from sigv4core.model import ParsedAuth, Verification


class Recorder:
    """A session that records what it was fed, slowly, from which thread."""

    def __init__(self, delay: float = 0.0) -> None:
        self.got: list[bytes] = []
        self.threads: set[str] = set()
        self.delay = delay
        self.peak = 0

    def feed(self, data: bytes | memoryview) -> None:
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        self.got.append(bytes(data))

    def finish(self) -> Verification:
        return Verification(verdict="valid", auth=ParsedAuth(scheme="none", location=None))


def test_chunks_arrive_in_order_on_the_thread() -> None:
    rec = Recorder()
    feeder = ThreadedFeeder(rec)
    chunks = [bytes([i]) * (i + 1) for i in range(200)]
    for c in chunks:
        feeder.feed(c)
    feeder.feed(b"")  # empty chunks are not data
    assert feeder.finish().verdict == "valid"
    assert rec.got == chunks
    assert rec.threads == {"sigv4-stream-verify"}


def test_queue_is_bounded() -> None:
    rec = Recorder(delay=0.01)
    feeder = ThreadedFeeder(rec, max_bytes=1000)
    start = time.monotonic()
    for _ in range(20):
        feeder.feed(b"x" * 500)
        with feeder._cond:
            rec.peak = max(rec.peak, feeder._queued)
    feeder.finish()
    assert rec.peak <= 1500  # at most max_bytes plus one chunk waits
    assert time.monotonic() - start >= 0.1  # the producer was held back
    assert len(rec.got) == 20


def test_same_verification_as_feeding_directly() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import bench_verify

    from sigv4core.verify import VerifySession

    wire, body = bench_verify.chunked_body(1)
    pieces = [body[i : i + 70000] for i in range(0, len(body), 70000)]
    direct = VerifySession(wire, bench_verify.KEYRING)
    for piece in pieces:
        direct.feed(piece)
    threaded = ThreadedFeeder(VerifySession(wire, bench_verify.KEYRING), max_bytes=100000)
    for piece in pieces:
        threaded.feed(piece)
    a, b = direct.finish(), threaded.finish()
    assert a.verdict == b.verdict == "valid"
    assert (a.chunks, a.chunks_verified, a.checksums) == (b.chunks, b.chunks_verified, b.checksums)
    assert a.chunks > 10
