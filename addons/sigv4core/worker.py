"""The worker process: inspects captured flows off the proxy's event loop.

The addon starts one worker (``python -c ...`` running :func:`main`) and talks to it over
its stdin/stdout with length-prefixed pickles (both ends are this package, in the same
user's processes). The addon's process only captures each flow and applies the outcome
when it comes back, so verification, diagnosis and JSON encoding run on another core and
never hold up traffic.

Messages to the worker, handled strictly in order: ``("load", profiles, files)`` (load the
user's credentials, as the addon's options say; learned ones are kept),
``("creds", [Credential])`` (add these), ``("inspect", FlowCapture)``, ``("stop",)``.
From the worker: ``("log", level, text)``, ``("result", flow_id, Outcome | None)`` and,
last, ``("stopped",)``.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_LEN = struct.Struct("!I")
ADDONS_DIR = str(Path(__file__).resolve().parent.parent)


def frame(msg: Any) -> bytes:
    """One message as bytes: a 4-byte length and the pickle."""
    data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    return _LEN.pack(len(data)) + data


class FrameReader:
    """Splits a byte stream back into messages, however it was cut."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        buf = self._buf
        buf += data
        out = []
        pos, end = 0, len(buf)
        with memoryview(buf) as view:
            while end - pos >= 4:
                (n,) = _LEN.unpack_from(buf, pos)
                if end - pos < 4 + n:
                    break
                out.append(pickle.loads(view[pos + 4 : pos + 4 + n]))
                pos += 4 + n
        del buf[:pos]  # once per call: a batch of many frames is not moved frame by frame
        return out


def _batches(fd: int) -> Iterator[list[Any]]:
    """The messages as they arrive: all those one read delivers, together."""
    reader = FrameReader()
    while True:
        try:
            data = os.read(fd, 1 << 20)
        except OSError:
            return
        if not data:
            return
        if msgs := reader.feed(data):
            yield msgs


def _uses_aws_login() -> bool:
    """Whether the AWS config file has a profile that signs in with ``aws login``
    (``login_session``): botocore's provider for it needs awscrt's EC keys. A plain text
    search: a false alarm only costs the time saved below."""
    path = os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    try:
        return "login_session" in Path(path).expanduser().read_text(errors="replace")
    except OSError:
        return False


def _import_botocore_without_crt() -> None:
    """Import botocore with awscrt hidden from it, unless a profile uses ``aws login``.
    botocore loads awscrt whenever it is installed, to sign with it; the worker uses only
    botocore's credential chain, and loading awscrt seeds aws-lc's entropy pool: 0.5 G
    instructions, a third of the worker's start-up. The checksums still import awscrt on
    the first CRC32C or CRC64NVME."""
    if "botocore" in sys.modules or "awscrt" in sys.modules or _uses_aws_login():
        return
    sys.modules["awscrt"] = None  # type: ignore[assignment]  # "import awscrt" now fails
    try:
        import botocore.session  # noqa: F401
    except Exception:  # no botocore: the credential loading says so later
        pass
    finally:
        if "awscrt" in sys.modules and sys.modules["awscrt"] is None:
            del sys.modules["awscrt"]


def main() -> None:
    """The worker's loop (stdin: messages in; stdout: results out)."""
    _import_botocore_without_crt()
    from sigv4core.credentials import CredentialStore, load_with_messages
    from sigv4core.flowinspect import FlowInspector, fallback_inspection, outcome_of

    with contextlib.suppress(OSError):
        os.nice(10)  # the diagnosis yields the CPU to traffic (the proxy, the app under test)
    # the channel is a private copy of stdout; anything printed goes to stderr instead
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    results: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def writer() -> None:  # results never block reading the next batch
        while (item := results.get()) is not None:
            channel.write(item)
            channel.flush()

    t = threading.Thread(target=writer, name="sigv4-worker-writer", daemon=True)
    t.start()
    store = CredentialStore()
    inspector = FlowInspector(store)
    gc.freeze()  # the imported modules live as long as the worker: keep them out of GC passes
    inspected = 0
    stopping = False
    # a batch's replies leave in one write: a wake-up of the proxy per batch, not per flow
    for batch in _batches(sys.stdin.fileno()):
        replies = []
        for msg in batch:
            kind = msg[0]
            if kind == "inspect":
                inspected += 1
                cap = msg[1]
                try:
                    insp = inspector.inspect(cap)  # never raises
                    reply = frame(
                        ("result", cap.flow_id, outcome_of(cap.flow_id, insp) if insp else None)
                    )
                except Exception as exc:  # an outcome that cannot be sent: say so, keep going
                    fb = fallback_inspection(cap, exc)
                    reply = frame(
                        ("result", cap.flow_id, outcome_of(cap.flow_id, fb) if fb else None)
                    )
                replies.append(reply)
            elif kind == "creds":
                store.add_many(msg[1])
            elif kind == "load":
                found, msgs = load_with_messages(msg[1], msg[2])
                learned = store.learned_credentials()
                store = CredentialStore([*found, *learned])
                inspector.keyring = store
                replies += [frame(("log", level, text)) for level, text in msgs]
                gc.freeze()
            elif kind == "stop":
                stopping = True
                break
        if replies:
            results.put(b"".join(replies))
        if stopping:
            break
    cpu = time.process_time()
    results.put(
        frame(("log", "debug", f"sigv4: the worker inspected {inspected} flow(s), {cpu:.2f} s CPU"))
    )
    results.put(frame(("stopped",)))
    results.put(None)
    t.join()


class WorkerClient:
    """The addon's end: start the worker, send messages without ever blocking the caller
    (non-blocking writes; what the pipe cannot take yet waits in a buffer), collect results
    without blocking (non-blocking reads)."""

    def __init__(self, python: str = sys.executable) -> None:
        code = f"import sys; sys.path.insert(0, {ADDONS_DIR!r}); from sigv4core.worker import main; main()"
        self.proc = subprocess.Popen(
            [python, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in_fd = self.proc.stdin.fileno()
        self._out_fd = self.proc.stdout.fileno()
        for fd in (self._in_fd, self._out_fd):
            os.set_blocking(fd, False)
            with contextlib.suppress(Exception):  # Linux: room for many flows per pipe
                import fcntl

                fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
        self._reader = FrameReader()
        self._pending = bytearray()
        self.dead = False
        self.stopped = False  # the worker said ("stopped",): it only exits from now on
        self.answered = False  # the worker has sent something (it is past its start-up)

    def fileno(self) -> int:
        """The descriptor to watch for results."""
        return self._out_fd

    def send_fileno(self) -> int:
        """The descriptor to watch for room while :attr:`backlog` is not empty."""
        return self._in_fd

    @property
    def backlog(self) -> int:
        """Bytes sent but not yet taken by the pipe."""
        return len(self._pending)

    def send(self, msg: Any) -> None:
        """Queue a message and write what the pipe takes now (never blocks)."""
        self.queue(msg)
        self.flush()

    def queue(self, msg: Any) -> None:
        """Queue a message for the next :meth:`flush` (or :meth:`send`), in order."""
        self._pending += frame(msg)

    def flush(self) -> None:
        """Write buffered messages as far as the pipe takes them (never blocks)."""
        while self._pending and not self.dead:
            try:
                n = os.write(self._in_fd, self._pending)
            except BlockingIOError:
                return
            except OSError:
                self.dead = True
                return
            del self._pending[:n]

    def poll(self) -> list[Any]:
        """The messages that have arrived (never blocks). Sets ``dead`` at end of stream."""
        self.flush()
        got: list[Any] = []
        while True:
            try:
                data = os.read(self._out_fd, 1 << 20)
            except BlockingIOError:
                break
            except OSError:
                self.dead = True
                break
            if not data:
                self.dead = True
                break
            got += self._reader.feed(data)
        if got:
            self.answered = True
            if got[-1][0] == "stopped":  # always its last message
                self.stopped = True
        return got

    def stop(self) -> None:
        """Ask the worker to finish what it was sent, then stop."""
        self.send(("stop",))

    def wait(self, timeout: float) -> list[Any]:
        """Block up to ``timeout`` for more messages (sending what is buffered meanwhile);
        returns what arrived."""
        import select

        if self.dead:
            return []
        wfds = [self._in_fd] if self._pending else []
        select.select([self._out_fd], wfds, [], timeout)
        return self.poll()

    def reap(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the process to exit by itself; whether it has."""
        try:
            self.proc.wait(timeout=max(0.0, timeout))
            return True
        except subprocess.TimeoutExpired:
            return False

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.kill()
            self.proc.wait(timeout=5)
        for f in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(Exception):
                if f is not None:
                    f.close()
        self.dead = True
