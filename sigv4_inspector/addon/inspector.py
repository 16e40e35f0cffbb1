"""The inspector: when a flow ends, inspect it and write the diagnosis onto the flow
(comment, marker, ``metadata["sigv4"]``), the terminal and the report.

One process, on mitmproxy's event loop: the work per flow is bounded by counts (the core's
variant search, the record's size), about what a signature costs, so there is no worker
process, pipe or second keyring (docs/benchmarks.md has the measurements that decided it).
A flow waits, without holding anything up, only for what it needs: a streamed body still
being hashed, or the user's credentials while they load (then at most
``sigv4_credential_timeout``). Every flow gets one record, when it ends, errors, or at the
latest when mitmproxy shuts down.

A heavy flow (thousands of headers, a large error body, a large buffered body) is
inspected on one helper thread instead (:class:`Offload`): its work is linear and bounded,
yet tens of milliseconds, and on the event loop every other connection would wait for it;
on the thread, Python hands the event loop the GIL back within 0.5 ms (the switch interval
is lowered while a heavy flow is pending, then restored). The thread runs
the pure core step only; the flow is annotated back on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from typing import Any

from mitmproxy import ctx, http
from mitmproxy.hooks import UpdateHook

from sigv4_inspector.addon.capture import Capture
from sigv4_inspector.addon.credentials import Credentials
from sigv4_inspector.addon.report import Report
from sigv4_inspector.addon.state import META_KEY, FlowRef, State
from sigv4_inspector.addon.tap import StreamTap
from sigv4_inspector.core.capture import FlowCapture
from sigv4_inspector.core.inspect import Inspection
from sigv4_inspector.core.model import Verification
from sigv4_inspector.runtime.gil import SWITCH

log = logging.getLogger("sigv4")

MAX_WAITING = 10000  # flows waiting for credentials; beyond, they are inspected with what is known
MAX_RECORDED = 50000  # flow ids remembered, so a flow gets one record
# a flow is heavy (inspected off the event loop) past any of these
HEAVY_FIELDS = 400  # header fields of its request and response together
HEAVY_BODY = 1 << 20  # bytes of its buffered request body
HEAVY_ERROR_BODY = 64 << 10  # bytes of the error body the server answered
MAX_OFFLOADED = 64  # heavy flows queued at once; beyond, they are inspected on the loop
OFFLOAD_WAIT_S = 5.0  # at exit, how long the heavy flows still queued may take, in all
LINE_DELAY_S = 0.05  # the lines of this long share one log record

VERDICT_STYLE = {
    "valid": "green",
    "invalid": "bold red",
    "unverified": "yellow",
    "unsigned": "blue",
}
# the per-flow line is painted with plain ANSI codes: through rich it cost 0.55 ms per flow
_SGR = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "bold red": "1;31",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def paint(text: str, style: str, color: bool) -> str:
    """``text`` with its control characters shown as escapes (a request's URL must not
    drive the terminal), in ANSI ``style`` when ``color``."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    code = _SGR.get(style) if color else None
    return f"\x1b[{code}m{text}\x1b[0m" if code else text


def heavy(cap: FlowCapture) -> bool:
    """Whether a flow's inspection may take tens of milliseconds (cheap tests on its size)."""
    return (
        len(cap.fields) + len(cap.response_fields) > HEAVY_FIELDS
        or len(cap.body or b"") > HEAVY_BODY
        or len(cap.response_body or b"") > HEAVY_ERROR_BODY
    )


class Offload:
    """One helper thread for heavy flows: the pure inspection runs there, the result comes
    back to the event loop through ``call_soon_threadsafe``. At most MAX_OFFLOADED wait.

    A flow submitted again while it waits (``sigv4.reverify``) replaces its older work: the
    older result is dropped, the newer one annotates it, and whoever awaits the flow's hook
    is let go once, after that."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self.pending: dict[str, tuple[http.HTTPFlow, Future[Inspection | None]]] = {}
        # resolved once the flow is annotated: the hook returns it, mitmproxy awaits it (that
        # flow alone waits; the save addon, after the scripts, then writes it annotated)
        self.waiters: dict[str, asyncio.Future[None]] = {}

    def submit(
        self,
        f: http.HTTPFlow,
        work: Callable[[], Inspection | None],
        done: Callable[[http.HTTPFlow, Inspection | None], None],
    ) -> bool:
        """Queue ``work`` for ``f`` (``done(f, result)`` runs on the event loop once it
        finished); False when there is no running event loop or the queue is full."""
        if len(self.pending) >= MAX_OFFLOADED and f.id not in self.pending:
            return False  # (a flow submitted again replaces its work: the queue does not grow)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sigv4-heavy")
        # while the thread works, the event loop gets the GIL back within 0.5 ms rather than
        # Python's 5 ms: each wake-up of the loop (a read, a write) would otherwise wait up
        # to a full switch interval behind the thread. Released once per submission, when
        # its work ends (done, failed or cancelled), on whichever thread that happens.
        SWITCH.acquire()
        try:
            fut = self._pool.submit(work)
        except RuntimeError:  # the pool is shut down (exit)
            SWITCH.release()
            return False
        fut.add_done_callback(lambda _: SWITCH.release())
        self.pending[f.id] = (f, fut)
        if f.id not in self.waiters:
            self.waiters[f.id] = loop.create_future()

        def finished() -> None:
            got = self.pending.get(f.id)
            if got is None or got[1] is not fut:
                return  # replaced by a newer submission, or taken at exit
            del self.pending[f.id]
            try:
                done(f, _result(fut, 0))
            finally:
                self.release(f.id)

        def back(_: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed (exit): done() takes it
                loop.call_soon_threadsafe(finished)

        fut.add_done_callback(back)
        return True

    def take(self, fid: str, timeout: float | None) -> Inspection | None:
        """The result of a queued flow, waiting up to ``timeout`` (exit), once."""
        got = self.pending.pop(fid, None)
        return None if got is None else _result(got[1], timeout)

    def release(self, fid: str) -> None:
        """Let whoever awaits the flow's hook go on."""
        waiter = self.waiters.pop(fid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        for fid in list(self.waiters):
            self.release(fid)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _result(fut: Future[Inspection | None], timeout: float | None) -> Inspection | None:
    try:
        return fut.result(timeout)
    except (CancelledError, TimeoutError):  # cancelled at exit, or still running
        return None
    except Exception as exc:  # the inspection never raises; if it did, say so
        log.warning("sigv4: internal error on a heavy flow: %s", type(exc).__name__)
        return None


class Lines:
    """The terminal lines of flows that end close together share one log record:
    mitmproxy's handling of a record costs about 0.85 M instructions, more than the rest of
    a flow's inspection. A lone flow's line goes out within LINE_DELAY_S."""

    def __init__(self) -> None:
        self._lines: list[tuple[int, str]] = []
        self._scheduled = False

    def add(self, level: int, text: str) -> None:
        self._lines.append((level, text))
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (tests, scripts): at once
            self.flush()
            return
        self._scheduled = True
        loop.call_later(LINE_DELAY_S, self.flush)

    def flush(self) -> None:
        self._scheduled = False
        lines, self._lines = self._lines, []
        start = 0
        for i in range(1, len(lines) + 1):
            if i == len(lines) or lines[i][0] != lines[start][0]:
                log.log(lines[start][0], "%s", "\n".join(text for _, text in lines[start:i]))
                start = i


class Inspector:
    """Inspects each flow that ends and annotates it."""

    name = "sigv4_inspector"

    def __init__(
        self,
        state: State,
        capture: Capture,
        tap: StreamTap,
        report: Report,
        credentials: Credentials,
    ) -> None:
        self.state = state
        self.capture = capture
        self.tap = tap
        self.report = report
        self.lines = Lines()
        self.waiting: deque[tuple[http.HTTPFlow, FlowCapture]] = deque()
        self.recorded: dict[str, None] = {}
        self.offload = Offload()
        self.credentials = credentials
        credentials.listeners.append(self._credentials_ready)

    # -- hooks -----------------------------------------------------------------------------
    def running(self) -> None:
        with contextlib.suppress(AttributeError):
            self.state.has_view = ctx.master.addons.get("view") is not None

    def response(self, f: http.HTTPFlow) -> asyncio.Future[None] | None:
        self.finish(f)
        return self.offload.waiters.get(f.id)  # a heavy flow: awaited until annotated

    def error(self, f: http.HTTPFlow) -> asyncio.Future[None] | None:
        self.finish(f)
        return self.offload.waiters.get(f.id)

    def done(self) -> None:
        """Every flow gets its record: those still open, waiting or streaming."""
        for f in list(self.capture.open.values()):
            self.finish(f)
        for fid in list(self.tap.streams):
            v = self.tap.take(fid)
            if v is not None:
                v.wait(1.0)
        self.credentials.settle(0)  # a load that finished meanwhile serves the waiting flows
        self._drain(force=True)
        deadline = time.monotonic() + OFFLOAD_WAIT_S  # heavy flows still on the thread
        lost = 0
        for f, fut in list(self.offload.pending.values()):
            insp = self.offload.take(f.id, max(0.0, deadline - time.monotonic()))
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._apply(f, insp)
            else:
                lost += 1
        if lost:
            log.warning("sigv4: %d heavy flow(s) still being inspected at exit got no record", lost)
        self.offload.close()
        self.lines.flush()

    # -- the work ---------------------------------------------------------------------------
    def finish(self, f: http.HTTPFlow) -> None:
        """Capture the flow and inspect it now, or when what it waits for is there."""
        if f.id in self.recorded:
            return
        try:
            stream = self.tap.take(f.id)
            cap = self.capture.take(f)
        except Exception as exc:
            log.warning("sigv4: internal error on flow %s: %s", f.id, type(exc).__name__)
            self._failed(f, exc)
            return
        if cap is None:
            return
        self._remember(f.id)
        if stream is not None:
            result = stream.result()
            if result is None and not stream.gave_up:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:
                    result = stream.wait(10.0)
                else:
                    ready = cap

                    def on_done(v: Verification) -> None:
                        with contextlib.suppress(RuntimeError):  # the loop closed (exit)
                            loop.call_soon_threadsafe(self._streamed, f, ready, v)

                    stream.add_done_callback(on_done)
                    return
            if result is not None:
                cap = cap._replace(verification=result)
        self._ready(f, cap)

    def _failed(self, f: http.HTTPFlow, exc: Exception) -> None:
        """The ``unverified`` record of a flow whose capture failed (traffic unaffected)."""
        from sigv4_inspector.core.inspect import fallback_inspection

        try:
            cap = self.capture.take(f, blame=False)
            insp = fallback_inspection(cap, exc) if cap is not None else None
            if insp is not None:
                self._remember(f.id)
                self.annotate(f, insp)
        except Exception:
            pass

    def _streamed(self, f: http.HTTPFlow, cap: FlowCapture, v: Verification) -> None:
        self._ready(f, cap._replace(verification=v), later=True)

    def _ready(self, f: http.HTTPFlow, cap: FlowCapture, *, later: bool = False) -> None:
        """Inspect now, unless the flow needs credentials that are still loading."""
        st = self.state
        if (
            not st.credentials_ready
            and (self.waiting or self._needs_credentials(cap))
            and len(self.waiting) < MAX_WAITING
        ):
            self.waiting.append((f, cap))
            return
        if st.credentials_problem:
            cap = cap._replace(credentials_problem=st.credentials_problem)
        self._inspect(f, cap, later=later)

    def _needs_credentials(self, cap: FlowCapture) -> bool:
        """Whether the flow's access key is unknown yet (a cheap look at the raw head, or at
        the first fields of an S3 POST upload's form)."""
        from sigv4_inspector.core.inspect import access_key_of

        akid = access_key_of(cap)
        return akid is not None and self.state.store.lookup(akid) is None

    def _credentials_ready(self) -> None:
        self._drain(force=False)

    def _drain(self, *, force: bool) -> None:
        updated = []
        problem = self.state.credentials_problem
        if force and not self.state.credentials_ready:
            problem = "your credentials were still loading when mitmproxy stopped"
        while self.waiting:
            f, cap = self.waiting.popleft()
            if problem:
                cap = cap._replace(credentials_problem=problem)
            if self._inspect(f, cap, later=True):
                updated.append(f)
        if updated:
            self._update(updated)

    def _inspect(
        self,
        f: http.HTTPFlow,
        cap: FlowCapture,
        *,
        later: bool = False,
    ) -> bool:
        inspector = self.state.inspector
        if heavy(cap) and self.offload.submit(f, lambda: inspector.inspect(cap), self._offloaded):
            return False  # annotated when the thread is done (then an update)
        insp = inspector.inspect(cap)  # never raises
        return self._apply(f, insp, later=later)

    def _offloaded(self, f: http.HTTPFlow, insp: Inspection | None) -> None:
        self._apply(f, insp, later=True)

    def _apply(self, f: http.HTTPFlow, insp: Inspection | None, *, later: bool = False) -> bool:
        """Write an inspection onto its flow (on the event loop); whether it was written."""
        if insp is None:
            return False
        if insp.error:
            log.warning("sigv4: internal error on flow %s: %s", f.id, insp.error)
        try:
            self.annotate(f, insp)
        except Exception as exc:  # never raise out of a hook
            log.warning("sigv4: could not annotate flow %s: %s", f.id, type(exc).__name__)
            return False
        if later:
            self._update([f])
        return True

    def annotate(self, f: http.HTTPFlow, insp: Inspection) -> None:
        """Write the diagnosis onto the flow, the report and the terminal; every byte passes
        the scrubber first (redaction at the sink: a new code path cannot leak)."""
        scrubber = self.state.scrubber
        scrub = scrubber.text
        line = scrub(insp.line, json=True)
        rec = insp.record
        if line != insp.line:  # rare: scrubbed value by value, so the line stays valid JSON
            rec = scrubber.value(insp.record)
            line = json.dumps(rec, ensure_ascii=True)
        f.metadata[META_KEY] = rec
        f.comment = scrub(insp.comment)
        f.marked = insp.marker
        st = self.state
        st.counts[insp.verdict] += 1
        ref = FlowRef(f.id, rec["method"], rec["url"], (rec.get("response") or {}).get("status"))
        for code in dict.fromkeys(insp.codes):
            st.remember(code, ref)
        self.report.write(line)
        if not st.settings.quiet:
            level, text = self.line(rec, insp.marker)
            self.lines.add(level, scrub(text))

    def line(self, rec: dict[str, Any], marker: str) -> tuple[int, str]:
        """One line per AWS flow (colored when the terminal takes it): the headline's code
        and the verdict first, the request, then the headline's message and fix under it,
        and the level to log it at."""
        color = self.colored()
        head = rec.get("headline")
        parts = [paint("[sigv4] ", "bold", color)]
        if head:
            style = {"error": "red", "warning": "yellow"}.get(head["severity"], "")
            parts.append(paint(f"{head['code']} ", style, color))
        parts += [
            paint(f"({rec['verdict']})", VERDICT_STYLE.get(rec["verdict"], ""), color),
            paint(f" {rec['method']} {rec['url'][:120]}", "", color),
        ]
        others = [d["code"] for d in rec["findings"][1:] if d["severity"] != "info"]
        if others:
            parts.append(paint(f"  +{','.join(others[:6])}", "dim", color))
        if marker and head:
            style = "dim" if marker != ":x:" else ""
            text = f"{head['message']} -> {head['fix']}" if head["fix"] else head["message"]
            parts.append("\n" + paint(f"         {text[:600]}", style, color))
        level = logging.WARNING if marker == ":x:" else logging.INFO
        return level, "".join(parts)

    def colored(self) -> bool:
        """ANSI colors only when the log goes to a terminal alone: mitmweb and the console
        UI (they have a "view") show their event log as text."""
        return not self.state.has_view and sys.stdout.isatty()

    def reinspect(self, flows: list[http.HTTPFlow]) -> None:
        """Inspect flows again (``sigv4.reverify``)."""
        for f in flows:
            self.recorded.pop(f.id, None)
            self.capture.request(f)
            self.finish(f)

    def _remember(self, fid: str) -> None:
        self.recorded[fid] = None
        if len(self.recorded) > MAX_RECORDED:
            self.recorded.pop(next(iter(self.recorded)))

    @staticmethod
    def _update(flows: list[http.HTTPFlow]) -> None:
        with contextlib.suppress(Exception):  # no master (scripts, tests)
            ctx.master.addons.trigger(UpdateHook(flows))
