"""The streamed-body verifier thread (sigv4_inspector.runtime.feeder): the same
verification as feeding the session directly, the bytes in order (network reads joined into
buffers of at most about a megabyte); ``feed`` never waits, and a verifier that falls
behind its bound gives the body up instead of slowing the upload."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sigv4_inspector.core.model import ParsedAuth, Verdict, Verification
from sigv4_inspector.runtime.feeder import FEED_AT_ONCE, HELP_AT, WAKE_AT, StreamVerifier


class Recorder:
    """A session that records what it was fed, slowly when asked, and from which thread."""

    def __init__(self, delay: float = 0.0) -> None:
        self.got: list[bytes] = []
        self.threads: set[str] = set()
        self.delay = delay
        self.unknown = False
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()  # a feed has started

    def feed(self, data: bytes | memoryview) -> None:
        self.entered.set()
        self.gate.wait()
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        self.got.append(bytes(data))

    def body_unknown(self) -> None:
        self.unknown = True

    def finish(self) -> Verification:
        return Verification(verdict=Verdict.VALID, auth=ParsedAuth(scheme="none", location=None))


def test_chunks_arrive_in_order_on_the_thread() -> None:
    rec = Recorder()
    v = StreamVerifier(rec)
    chunks = [bytes([i]) * (i + 1) for i in range(200)]
    for c in chunks:
        v.feed(c)
    v.feed(b"")  # empty chunks are not data
    v.finish()
    result = v.wait(10)
    assert result is not None and result.verdict == "valid" and result.body_unchecked is None
    assert b"".join(rec.got) == b"".join(chunks) and not rec.unknown
    assert rec.threads == {"sigv4-stream-verify"}


def test_reads_are_joined_into_bounded_buffers_in_order() -> None:
    """Network-sized reads (a body of 5 MiB in 64 KiB pieces, memoryviews among them) reach
    the session in order, as buffers no larger than FEED_AT_ONCE plus one read."""
    rec = Recorder()
    v = StreamVerifier(rec)
    piece = 65535
    body = bytes(range(256)) * (5 << 12)
    for i in range(0, len(body), piece):
        part = body[i : i + piece]
        v.feed(memoryview(part) if i % 3 == 0 else part)
    v.finish()
    assert v.wait(30) is not None
    assert b"".join(rec.got) == body
    assert max(map(len, rec.got)) <= FEED_AT_ONCE + piece
    assert v.behind == 0


def test_feed_never_waits_and_gives_the_body_up_when_behind() -> None:
    """The thread is stuck: feeding goes on at once, and past the bound the verifier gives
    the body up (the result says why) instead of making the upload wait."""
    rec = Recorder()
    rec.gate.clear()  # the hashing thread cannot make progress
    v = StreamVerifier(rec, max_behind=1000)
    start = time.monotonic()
    for _ in range(20):
        v.feed(b"x" * 500)
    assert time.monotonic() - start < 1.0  # never held back (it would block forever)
    assert v.gave_up is not None and "faster than it could be hashed" in v.gave_up
    done: list[Verification] = []
    v.add_done_callback(done.append)
    v.finish()
    rec.gate.set()
    result = v.wait(10)
    assert result is not None and done == [result]
    assert rec.unknown and result.body_unchecked == v.gave_up


def _until(cond: Callable[[], bool]) -> None:
    """Wait for a state the other thread reaches (a test of behaviour, not of timing)."""
    end = time.monotonic() + 30
    while not cond():
        assert time.monotonic() < end, "the verifier never reached the state"
        time.sleep(0.001)


def test_the_event_loop_verifies_the_queue_itself_when_the_thread_falls_behind() -> None:
    """The thread is held inside a batch while HELP_AT bytes pile up: it hands the session
    over at its next batch, the feeding thread (mitmproxy's event loop) verifies the queue in
    slices as it feeds, hands the session back once the queue is empty, and nothing is
    given up: every byte reaches the session once, in order."""
    rec = Recorder()
    rec.gate.clear()
    v = StreamVerifier(rec)
    piece = b"".join(bytes([i]) * 1024 for i in range(64))  # 64 KiB
    sent: list[bytes] = []

    def feed(n: int) -> None:
        for _ in range(n):
            data = bytes([len(sent) % 251]) + piece[1:]
            sent.append(data)
            v.feed(data)

    feed(WAKE_AT // len(piece))  # wakes the thread, which takes them and is held
    _until(rec.entered.is_set)
    feed(HELP_AT // len(piece) + 2)  # behind past HELP_AT: the loop asks for the session
    rec.gate.set()
    _until(lambda: v._loop_owns)
    feed(40)  # each read verified here, with a slice of the queue
    assert "MainThread" in rec.threads and v.helped > 0
    feed(400)
    v.finish()
    result = v.wait(30)
    assert result is not None and result.body_unchecked is None and v.gave_up is None
    assert b"".join(rec.got) == b"".join(sent) and not rec.unknown
    assert rec.threads == {"sigv4-stream-verify", "MainThread"}


def test_same_verification_as_feeding_directly() -> None:
    from sigv4_inspector.core.verify import VerifySession
    from sigv4_testsupport.vectors import S3, S3_KEYRING, s3_request

    ex = next(e for e in S3["examples"] if e["id"] == "s3-put-object-chunked-with-trailer")
    wire = s3_request(ex)
    body = wire.body or b""
    pieces = [body[i : i + 7000] for i in range(0, len(body), 7000)]
    direct = VerifySession(wire, S3_KEYRING)
    for piece in pieces:
        direct.feed(piece)
    threaded = StreamVerifier(VerifySession(wire, S3_KEYRING))
    for piece in pieces:
        threaded.feed(piece)
    threaded.finish()
    a, b = direct.finish(), threaded.wait(30)
    assert b is not None
    assert a.verdict == b.verdict == "valid"
    assert (a.chunks, a.chunks_verified, a.checksums) == (b.chunks, b.chunks_verified, b.checksums)
    assert a.chunks >= 2 and a.checksums
