"""sigv4-inspector: the mitmproxy addon.

    mitmdump -s addons/sigv4.py [--set sigv4_report=flows.jsonl]

For every AWS-signed request (and every AWS endpoint reached unsigned) it re-verifies the
signature with your own credentials, names what changed in transit, and writes the
diagnosis onto the flow (comment, marker, metadata["sigv4"]), the terminal and a JSON
report. It never modifies, blocks or delays traffic. All protocol logic lives in the pure
``sigv4core`` package beside this file; this module is glue.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import re
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so the core imports from any cwd

from mitmproxy import command, contentviews, ctx, exceptions, flow, http, types  # noqa: E402
from mitmproxy.hooks import UpdateHook  # noqa: E402
from mitmproxy.utils import human  # noqa: E402

from sigv4core import credentials as creds_mod  # noqa: E402
from sigv4core.authparse import parse_auth  # noqa: E402
from sigv4core.capture import FlowCapture, Outcome, decode_fields, pick_authority  # noqa: E402
from sigv4core.endpoints import is_aws_host  # noqa: E402
from sigv4core.explain import explain_record  # noqa: E402
from sigv4core.model import Verification, WireRequest  # noqa: E402
from sigv4core.worker import WorkerClient  # noqa: E402

log = logging.getLogger("sigv4")

META_KEY = "sigv4"
VERDICT_STYLE = {
    "valid": "green",
    "invalid": "bold red",
    "unverified": "yellow",
    "unsigned": "blue",
}


def _render(obj: Any, color: bool) -> str:
    """Render rich output (the summary table) to a string for the log, in ANSI colors when
    ``color``: printing directly would ignore -q and break the console UI. rich is imported
    here, not with the addon: 50 ms that most runs never need."""
    from rich.console import Console

    buf = io.StringIO()
    Console(
        file=buf,
        force_terminal=color,
        width=200,
        color_system="standard" if color else None,
    ).print(obj)
    return buf.getvalue().rstrip("\n")


# the per-flow line is painted with plain ANSI codes: through rich it cost 0.55 ms per flow
# on the proxy's event loop
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


def _paint(text: str, style: str, color: bool) -> str:
    """``text`` with its control characters shown as escapes (a request's URL must not
    drive the terminal), in ANSI ``style`` when ``color``."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    code = _SGR.get(style) if color else None
    return f"\x1b[{code}m{text}\x1b[0m" if code else text


MAX_PENDING = 10000
MAX_INFLIGHT = 2000  # flows at the worker; beyond this, inspect inline (bounded memory)
MAX_BACKLOG = 64 << 20  # bytes waiting for the pipe to the worker, likewise
ERROR_BODY_LIMIT = 1 << 20
FLUSH_S = 0.2
_LEVELS = {"warning": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}
SEND_DELAY_S = 0.05  # flows go to the worker in batches: a wake-up per batch, not per flow
SEND_BATCH = 256 << 10  # ... or as soon as this many bytes wait
WORKER_DRAIN_S = 120.0  # at exit, how long to wait for the worker's last outcomes
WORKER_EXIT_S = 0.5  # ... and then for it to say it stops, before it is killed
WORKER_TEARDOWN_S = 10.0  # ... and, once it has, for its process to end


def wire_request(
    req: http.Request,
    *,
    headers: Sequence[tuple[str, str]] | None = None,
    target: str | None = None,
    method: str | None = None,
) -> WireRequest:
    """The core's view of a mitmproxy request (raw body; ``None`` when not stored)."""
    hdrs = tuple(headers) if headers is not None else _headers(req)
    return WireRequest(
        method or req.method,
        target if target is not None else req.path,
        hdrs,
        req.raw_content,
        pick_authority(hdrs, _h2_authority(req), _default_authority(req)),
        req.scheme,
    )


def _h2_authority(req: http.Request) -> str:
    return req.authority if (req.is_http2 or req.is_http3) else ""


def _default_authority(req: http.Request) -> str:
    return req.authority or f"{req.host}:{req.port}"


def _opt(name: str) -> Any:
    """An option's value, or None when that option is not registered (tests, old versions)."""
    try:
        return getattr(ctx.options, name)
    except (AttributeError, KeyError):
        return None


def _headers(msg: http.Message) -> tuple[tuple[str, str], ...]:
    return decode_fields(msg.headers.fields)


def _maybe_aws(fields: Sequence[tuple[bytes, bytes]], target: bytes, host: str) -> bool:
    """The cheap test before any parsing: an Authorization header, an AWS query parameter
    (also percent-encoded) or an AWS host. A superset of what the core inspects."""
    for k, _ in fields:
        if len(k) == 13 and k.lower() == b"authorization":
            return True
    t = target.lower()
    if b"amz" in t or b"accesskeyid" in t or b"%" in t:
        return True
    return is_aws_host(host)


_SIZE_HEADERS = frozenset((b"content-length", b"content-encoding", b"x-amz-decoded-content-length"))
_SIZE_HEADER_LENGTHS = frozenset(map(len, _SIZE_HEADERS))  # most names are ruled out by length


def _size_headers(fields: Sequence[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """The headers that tell a body's size and encoding, in one pass over the raw fields
    (cheaper on every request than three mitmproxy header lookups)."""
    out = {}
    for k, v in fields:
        if len(k) in _SIZE_HEADER_LENGTHS and (lk := k.lower()) in _SIZE_HEADERS:
            out.setdefault(lk, v)
    return out


class _Snapshot:
    """The request head as the client sent it. Cheap: mitmproxy replaces the immutable
    ``headers.fields`` tuple on every change, so keeping a reference is a true snapshot;
    decoding waits until the flow is inspected."""

    __slots__ = ("method", "target", "fields", "timestamp", "body", "body_seen")

    def __init__(self, req: http.Request) -> None:
        self.method = req.data.method
        self.target = req.data.path
        self.fields = req.headers.fields
        self.timestamp = req.timestamp_start or time.time()
        self.body: bytes | None = None  # the body as the client sent it (``request`` hook)
        self.body_seen = False

    def keep_body(self, req: http.Request) -> None:
        """Take the body at our ``request`` hook: scripts run before modify_body and map
        local, so this is the client's (a reference to immutable bytes, not a copy)."""
        self.body, self.body_seen = req.raw_content, True

    def body_changed(self, req: http.Request) -> bool:
        return self.body_seen and req.raw_content is not self.body and req.raw_content != self.body

    def unchanged(self, req: http.Request) -> bool:
        """Whether ``req`` still has this head (the usual case: nothing in the proxy edits it).
        mitmproxy answers ``Expect: 100-continue`` itself and drops the header (SDKs send it
        on S3 uploads); unless the client signed it, that alone counts as unchanged."""
        d = req.data
        if d.method != self.method or d.path != self.target:
            return False
        fields = d.headers.fields
        if fields == self.fields:
            return True
        kept = tuple(kv for kv in self.fields if kv[0].lower() != b"expect")
        return kept == fields and len(kept) < len(self.fields) and not self._signs_expect()

    def _signs_expect(self) -> bool:
        """Whether the client may have signed Expect (it is then a change to report)."""
        if b"expect" in self.target.lower():  # X-Amz-SignedHeaders of a presigned URL
            return True
        return any(k.lower() == b"authorization" and b"expect" in v.lower() for k, v in self.fields)


def _input_source(f: http.HTTPFlow) -> str:
    """``live``, ``file`` (read from a .mitm file) or ``har``: mitmproxy's HAR import gives
    every flow the client address 127.0.0.1:0 (mitmproxy.io.har.request_to_flow), which no
    real connection has."""
    if f.live:
        return "live"
    c = f.client_conn
    if c.peername == ("127.0.0.1", 0) and c.sockname == ("127.0.0.1", 0):
        return "har"
    return "file"


def _body_change(client: WireRequest, sent: http.Request, payload: str | None) -> Any:
    """The proxy changed the body (modify_body, map_local, another addon)."""
    from sigv4core.model import fingerprint
    from sigv4core.rules import ProxyChange

    def shown(body: bytes | None) -> str:
        return "unknown" if body is None else f"{len(body)} bytes, {fingerprint(body)}"

    p = payload or ""
    signed = p != "UNSIGNED-PAYLOAD" and p != "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    cause = (
        "modify_body option"
        if _opt("modify_body")
        else ("map_local option" if _opt("map_local") else "another addon")
    )
    return ProxyChange("body", None, shown(client.body), shown(sent.raw_content), cause, signed)


def _log_lines(lines: list[tuple[int, str]]) -> None:
    """Log (and clear) the lines of a batch of outcomes from the worker: consecutive lines
    of one level as one record, in order. mitmproxy's handling of a log record costs about
    0.85 M instructions, more than all the addon's other work on a flow in its process;
    under heavy traffic the worker answers in batches and the lines share that cost, and a
    lone flow still gets a record of its own."""
    start = 0
    for i in range(1, len(lines) + 1):
        if i == len(lines) or lines[i][0] != lines[start][0]:
            log.log(lines[start][0], "%s", "\n".join(text for _, text in lines[start:i]))
            start = i
    lines.clear()


class SigV4Inspector:
    def __init__(self) -> None:
        self.store = creds_mod.CredentialStore()
        self._snap: dict[str, _Snapshot] = {}
        self._pending: dict[str, flow.Flow] = {}
        self._recorded: set[str] = set()
        self._recorded_order: deque[str] = deque()
        self._report: Any = None
        self._report_path = ""
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.codes: Counter[str] = Counter()
        self._streams: dict[str, Any] = {}  # flow id -> sigv4core.feeder.ThreadedFeeder
        self._stream_results: dict[str, Verification] = {}
        self._stream_threshold = 16 << 20
        self._stream_verify = True
        self._loaded_key: tuple[Any, ...] | None = None
        self._creds_loaded = False
        self._flushed_at = 0.0
        self._flush_timer = False
        self._send_timer = False
        self._sent_at = 0.0
        self._learn_on = True
        self._quiet = False
        self._use_worker = True
        self._saving = False
        self._writer_armed = False
        self._inspector: Any = None  # a FlowInspector, made when first needed
        self._worker: WorkerClient | None = None
        self._inflight: dict[str, tuple[http.HTTPFlow, FlowCapture]] = {}
        self._has_view = False
        self._running = False

    # -- options -----------------------------------------------------------------------
    def load(self, loader: Any) -> None:
        loader.add_option(
            "sigv4_report", str, "", "Append one JSON line per AWS flow to this file."
        )
        loader.add_option(
            "sigv4_profiles",
            Sequence[str],
            [],
            "Only use these AWS profiles' credentials (default: the default chain and every profile).",
        )
        loader.add_option(
            "sigv4_credentials",
            Sequence[str],
            [],
            "Extra credentials files (shared-credentials INI format) to verify with.",
        )
        loader.add_option(
            "sigv4_learn",
            bool,
            True,
            "Learn temporary credentials from STS, IMDS, container and SSO responses that pass through.",
        )
        loader.add_option(
            "sigv4_quiet",
            bool,
            False,
            "Do not print a line per AWS flow (the report is still written).",
        )
        loader.add_option(
            "sigv4_worker",
            bool,
            True,
            "Inspect flows in a worker process (another core), so traffic is forwarded without "
            "waiting for the diagnosis; off: inspect inside mitmproxy's process. Flows are always "
            "inspected inline while save_stream_file is set, so saved flows carry their diagnosis.",
        )
        loader.add_option(
            "sigv4_stream_threshold",
            str,
            "16m",
            "Verify AWS uploads larger than this (aws-chunked, or any when stream_large_bodies is set) "
            "while they stream, without buffering them.",
        )
        loader.add_option(
            "sigv4_stream_verify",
            bool,
            True,
            "Verify the bodies of streamed uploads as they pass (chunk signatures, checksums); "
            "off: stream them through at full speed and check only their seed signature.",
        )

    def configure(self, updated: set[str]) -> None:
        # mitmproxy keeps --set values for options nobody registered; a misspelt sigv4
        # option would otherwise be ignored silently.
        misspelt = sorted(k for k in getattr(ctx.options, "deferred", {}) if k.startswith("sigv4"))
        opts = ctx.options
        if misspelt:
            known = ", ".join(sorted(k for k in opts.keys() if k.startswith("sigv4_")))  # noqa: SIM118 (OptManager has no __iter__)
            raise exceptions.OptionsError(
                f"unknown option(s) {', '.join(misspelt)}; sigv4 options are: {known}"
            )
        self._learn_on, self._quiet = bool(opts.sigv4_learn), bool(opts.sigv4_quiet)
        self._use_worker = bool(opts.sigv4_worker)
        self._stream_verify = bool(opts.sigv4_stream_verify)
        self._saving = bool(_opt("save_stream_file"))
        if not self._want_worker() and self._worker is not None:
            self._stop_worker()
        elif self._want_worker() and self._worker is None and self._running:
            with contextlib.suppress(RuntimeError):  # turned on while running
                self._start_worker(asyncio.get_running_loop())
        try:
            self._stream_threshold = human.parse_size(opts.sigv4_stream_threshold) or 0
        except ValueError as exc:
            raise exceptions.OptionsError(f"sigv4_stream_threshold: {exc}") from exc
        for path in opts.sigv4_credentials:
            if not Path(path).expanduser().is_file():
                raise exceptions.OptionsError(f"sigv4_credentials: no such file: {path}")
        key = (tuple(opts.sigv4_profiles), tuple(opts.sigv4_credentials))
        if key != self._loaded_key:
            self._loaded_key = key
            self._reset_credentials()
        if "sigv4_report" in updated or self._report_path != opts.sigv4_report:
            self._open_report(opts.sigv4_report)

    def _reset_credentials(self) -> None:
        """New credential options: a fresh store (learned credentials carried over), loaded
        now when flows are inspected here, else by the worker (botocore's import and the
        provider chain then cost the proxy nothing) and here only if ever needed."""
        self.store = creds_mod.CredentialStore(self.store.learned_credentials())
        if self._inspector is not None:
            self._inspector.keyring = self.store
        self._creds_loaded = False
        if self._worker is not None:
            self._worker.send(("load", *self._loaded_key_lists()))
        elif not self._want_worker():
            self._ensure_credentials()  # flows will be inspected here: say what is known now

    def _loaded_key_lists(self) -> tuple[list[str], list[str]]:
        profiles, files = self._loaded_key or ((), ())
        return list(profiles), list(files)

    def _ensure_credentials(self) -> None:
        """Load the user's credentials into this process's store, once."""
        if self._creds_loaded:
            return
        self._creds_loaded = True
        found, msgs = creds_mod.load_with_messages(*self._loaded_key_lists())
        self.store.add_many(found)
        for level, text in msgs:
            log.log(_LEVELS.get(level, logging.INFO), "%s", text)

    def _open_report(self, path: str) -> None:
        if self._report is not None:
            self._report.close()
            self._report = None
        self._report_path = path
        if path:
            p = Path(path).expanduser()
            p.parent.mkdir(parents=True, exist_ok=True)
            self._report = open(p, "a", encoding="utf-8")  # noqa: SIM115 - kept open, flushed every FLUSH_S

    # -- hooks -------------------------------------------------------------------------
    def requestheaders(self, f: http.HTTPFlow) -> None:
        """Snapshot the request exactly as the client sent it, before any other addon or
        option (modify_headers, anticomp, map_remote ...) changes it."""
        try:
            if len(self._snap) < MAX_PENDING:
                self._snap[f.id] = _Snapshot(f.request)
            self._maybe_stream(f)
        except Exception as exc:
            log.warning("sigv4: snapshot failed for %s: %s", f.id, type(exc).__name__)

    def _maybe_stream(self, f: http.HTTPFlow) -> None:
        """Verify a large or unknown-length AWS upload while it streams: the tap feeds the
        core's incremental verifier and passes every chunk through unchanged. With
        sigv4_stream_verify off, a large aws-chunked upload only streams, untapped."""
        req = f.request
        if not f.live or callable(req.stream):
            return
        head = _size_headers(req.headers.fields)
        aws_chunked = b"aws-chunked" in head.get(b"content-encoding", b"").lower()
        cl = head.get(b"content-length", b"").strip()
        if aws_chunked and not cl:  # sent chunked: the SDK still says what it decodes to
            cl = head.get(b"x-amz-decoded-content-length", b"").strip()
        size = int(cl) if cl.isdigit() else None
        if size == 0 or (size is None and req.method in ("GET", "HEAD", "DELETE", "OPTIONS")):
            return
        big = size is None or size > self._stream_threshold
        if not (req.stream or (big and (aws_chunked or _opt("stream_large_bodies")))):
            return
        if not self._stream_verify:  # streamed untouched: the seed signature is checked
            if big and aws_chunked and not req.stream:
                req.stream = True
            return
        wire = wire_request(req)
        if parse_auth(wire).scheme == "none":
            return
        from sigv4core.feeder import ThreadedFeeder
        from sigv4core.verify import VerifySession

        self._ensure_credentials()
        # hashing on a thread (hashlib releases the GIL), beside the event loop
        session = ThreadedFeeder(VerifySession(wire, self.store, now=datetime.now(UTC)))
        self._streams[f.id] = session

        def tap(data: bytes) -> bytes:
            if data:
                session.feed(data)  # never raises; waits while 8 MiB are not yet verified
            elif f.id not in self._stream_results:
                self._stream_results[f.id] = session.finish()
            return data

        req.stream = tap

    def request(self, f: http.HTTPFlow) -> None:
        if f.id not in self._snap and len(self._snap) < MAX_PENDING:
            self._snap[f.id] = _Snapshot(f.request)  # replayed flows that skipped requestheaders
        snap = self._snap.get(f.id)
        if snap is not None and not callable(f.request.stream):
            snap.keep_body(f.request)
        if len(self._pending) < MAX_PENDING:
            self._pending[f.id] = f

    def running(self) -> None:
        """Start the worker process and have the event loop apply its results."""
        try:
            loop = asyncio.get_running_loop()
            self._has_view = ctx.master.addons.get("view") is not None
        except (RuntimeError, AttributeError):
            return
        self._running = True
        if self._want_worker() and self._worker is None:
            self._start_worker(loop)

    def _want_worker(self) -> bool:
        """Whether flows go to the worker: not when it is off, nor while flows are saved
        as they complete (the saved flow must carry its diagnosis, so it is made here)."""
        return self._use_worker and not self._saving

    def response(self, f: http.HTTPFlow) -> None:
        if self._learn_on and f.response is not None:
            self._learn(f)
        self._finalize(f)

    def error(self, f: http.HTTPFlow) -> None:
        self._finalize(f)

    def _flush_soon(self) -> None:
        """Flush the report at most every FLUSH_S (a write per line costs more than the
        line); a timer on the event loop flushes what the last flows left."""
        now = time.monotonic()
        if now - self._flushed_at >= FLUSH_S:
            self._flush_report()
        elif not self._flush_timer:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (tests calling hooks directly): flush now
                self._flush_report()
                return
            self._flush_timer = True
            loop.call_later(FLUSH_S, self._flush_report)

    def _flush_report(self) -> None:
        self._flush_timer = False
        self._flushed_at = time.monotonic()
        with self._lock:
            if self._report is not None:
                self._report.flush()

    def done(self) -> None:
        for _fid, f in list(self._pending.items()):
            if isinstance(f, http.HTTPFlow):
                self._finalize(f)
        self._stop_worker()
        self._log_summary()
        if self._report is not None:
            self._report.close()
            self._report = None

    # -- work --------------------------------------------------------------------------
    def _learn(self, f: http.HTTPFlow) -> None:
        try:
            resp = f.response
            assert resp is not None
            raw = resp.raw_content
            if not raw or (
                b"ccessKeyId" not in raw
                and not any(k.lower() == b"content-encoding" for k, _ in resp.headers.fields)
            ):
                return  # not a credentials response (the cheap test before any parsing)
            body = resp.get_content(strict=False) if resp.raw_content is not None else b""
            learned = creds_mod.learn_from_response(
                f.request.pretty_host,
                f.request.path,
                f.request.raw_content,
                resp.status_code,
                _headers(resp),
                body or b"",
                datetime.now(UTC),
            )
            for c in learned:
                self.store.add(c)
                if self._worker is not None:
                    self._worker.send(("creds", [c]))  # before this flow's capture
                log.info(
                    "sigv4: learned temporary key %s from %s (%s)",
                    c.access_key_id,
                    c.issued_by,
                    c.source,
                )
        except Exception as exc:
            log.warning("sigv4: could not learn credentials from %s: %s", f.id, type(exc).__name__)

    def _finalize(self, f: http.HTTPFlow, *, inline: bool = False) -> None:
        self._pending.pop(f.id, None)
        snap = self._snap.pop(f.id, None)
        session = self._streams.pop(f.id, None)
        streamed = self._stream_results.pop(f.id, None)
        if session is not None and streamed is None:
            streamed = session.finish()  # the upload ended early (error, abort)
        if f.id in self._recorded:
            return
        try:
            cap = self._capture(f, snap, streamed)
        except Exception as exc:  # the unverified record, from the request as sent
            log.warning("sigv4: internal error on flow %s: %s: %s", f.id, type(exc).__name__, exc)
            self._record_failure(f, exc)
            return
        if cap is None:
            return
        self._remember(f.id)
        worker = self._worker
        if (
            worker is not None
            and not inline
            and len(self._inflight) < MAX_INFLIGHT
            and worker.backlog < MAX_BACKLOG
        ):
            self._inflight[f.id] = (f, cap)
            worker.queue(("inspect", cap))
            self._send_soon(worker)
            return
        self._inspect_inline(f, cap)

    def _record_failure(self, f: http.HTTPFlow, exc: Exception) -> None:
        from sigv4core.flowinspect import fallback_inspection, outcome_of

        try:
            cap = self._capture(f, None, None)
            insp = fallback_inspection(cap, exc) if cap is not None else None
        except Exception:
            return
        if insp is not None:
            self._remember(f.id)
            self._apply(f, outcome_of(f.id, insp)._replace(error=""))  # already logged

    def _inspect_inline(self, f: http.HTTPFlow, cap: FlowCapture) -> None:
        # the verifier is imported when first needed: with the worker, maybe never
        from sigv4core.flowinspect import FlowInspector, outcome_of

        self._ensure_credentials()
        if self._inspector is None:
            self._inspector = FlowInspector(self.store)
        insp = self._inspector.inspect(cap)  # never raises
        if insp is not None:
            self._apply(f, outcome_of(cap.flow_id, insp))

    def _apply(
        self, f: http.HTTPFlow, out: Outcome, lines: list[tuple[int, str]] | None = None
    ) -> None:
        """Annotate the flow; its line is logged now, or added to ``lines`` to be logged
        with its batch (:meth:`_log_lines`)."""
        if out.error:
            if lines:
                _log_lines(lines)  # the lines of the flows before it come first
            log.warning("sigv4: internal error on flow %s: %s", f.id, out.error)
        try:
            self._annotate(f, out, lines)
        except Exception as exc:  # never raise out of a hook
            log.warning("sigv4: could not annotate flow %s: %s", f.id, type(exc).__name__)

    def _remember(self, fid: str) -> None:
        self._recorded.add(fid)
        self._recorded_order.append(fid)
        if len(self._recorded_order) > 50000:
            self._recorded.discard(self._recorded_order.popleft())

    def _capture(
        self, f: http.HTTPFlow, snap: _Snapshot | None, streamed: Verification | None
    ) -> FlowCapture | None:
        """The flow as plain data for the core (None when it cannot concern AWS)."""
        sent = f.request
        d = sent.data
        head = snap if snap is not None and not snap.unchanged(sent) else None
        body_changed = snap is not None and snap.body_changed(sent)
        unchanged = head is None and not body_changed
        method, target, fields = (
            (d.method, d.path, d.headers.fields)
            if head is None
            else (head.method, head.target, head.fields)
        )
        if not _maybe_aws(fields, target, d.host):
            return None
        resp = f.response
        status: int | None = None
        rfields: tuple[tuple[bytes, bytes], ...] = ()
        rbody: bytes | None = None
        if resp is not None:
            status, rfields = resp.status_code, resp.headers.fields
            raw = resp.raw_content
            if status >= 300 and raw is not None and len(raw) <= ERROR_BODY_LIMIT:
                rbody = resp.get_content(strict=False)
        peer = f.client_conn.peername
        cap = FlowCapture(
            flow_id=f.id,
            method=method,
            target=target,
            fields=fields,
            body=snap.body if body_changed and snap is not None else sent.raw_content,
            scheme=sent.scheme,
            h2_authority=_h2_authority(sent),
            default_authority=_default_authority(sent),
            seen_at=snap.timestamp if snap is not None else (sent.timestamp_start or time.time()),
            client_addr=str(peer[0]) if peer else "?",
            status=status,
            response_fields=rfields,
            response_body=rbody,
            verification=streamed,
            input_source=_input_source(f),
        )
        if not unchanged:
            client = cap.wire()
            auth = parse_auth(client)
            changes = self._proxy_changes(client, sent, auth.signed_headers)
            if body_changed:
                changes.append(_body_change(client, sent, auth.payload))
            cap = cap._replace(proxy_changes=tuple(changes))
        return cap

    # -- the worker process ------------------------------------------------------------
    def _start_worker(self, loop: asyncio.AbstractEventLoop) -> None:
        if getattr(sys, "frozen", False):  # a frozen mitmproxy binary cannot run our worker
            log.info("sigv4: frozen mitmproxy build: flows are inspected inline")
            return
        try:
            worker = WorkerClient()
            worker.send(("load", *self._loaded_key_lists()))
            worker.send(("creds", self.store.all_credentials()))
            loop.add_reader(worker.fileno(), self._drain)
        except Exception as exc:
            log.warning("sigv4: no worker process (%s); flows are inspected inline", exc)
            return
        self._worker = worker

    def _send_soon(self, worker: WorkerClient) -> None:
        """Send what is queued for the worker within SEND_DELAY_S (at once when no event
        loop runs or SEND_BATCH bytes wait)."""
        if worker.backlog >= SEND_BATCH or time.monotonic() - self._sent_at >= SEND_DELAY_S:
            self._send_batch()  # the event loop may be busy (a replay): do not wait for it
        elif not self._send_timer:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._send_batch()
                return
            self._send_timer = True
            loop.call_later(SEND_DELAY_S, self._send_batch)

    def _send_batch(self) -> None:
        """Write what waits for the worker (watching the pipe for room if it is full), and
        apply the outcomes that have come back."""
        self._send_timer = False
        self._sent_at = time.monotonic()
        worker = self._worker
        if worker is None:
            return
        worker.flush()
        self._drain()
        if worker.backlog and not worker.dead and not self._writer_armed:
            self._writer_armed = True
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().add_writer(worker.send_fileno(), self._feed_worker)

    def _feed_worker(self) -> None:
        """The pipe to the worker has room: send what waits; stop watching when done."""
        worker = self._worker
        if worker is None:  # _detach removed the writer
            return
        worker.flush()
        if worker.backlog and not worker.dead:
            return
        self._writer_armed = False
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_writer(worker.send_fileno())

    def _drain(self) -> None:
        """Apply the outcomes the worker has sent (never blocks, never raises: it also runs
        as an event-loop callback)."""
        worker = self._worker
        if worker is None:
            return
        try:
            self._on_messages(worker.poll())
            if worker.dead:
                self._worker_lost()
        except Exception as exc:
            log.warning("sigv4: could not read the worker's results: %s", type(exc).__name__)
            self._worker_lost()

    def _on_messages(self, msgs: list[Any]) -> None:
        updated = []
        lines: list[tuple[int, str]] = []
        try:
            for m in msgs:
                if m[0] == "log":
                    _log_lines(lines)
                    log.log(_LEVELS.get(m[1], logging.INFO), "%s", m[2])
                if m[0] != "result":
                    continue
                entry = self._inflight.pop(m[1], None)
                if entry is not None and m[2] is not None:
                    self._apply(entry[0], m[2], lines)
                    updated.append(entry[0])
        finally:  # the lines of flows already annotated are printed whatever follows
            _log_lines(lines)
        if updated and self._has_view:
            with contextlib.suppress(Exception):
                ctx.master.addons.trigger(UpdateHook(updated))  # mitmweb shows the diagnosis

    def _worker_lost(self, *, expected: bool = False) -> None:
        """The worker is gone (or stopped): inspect what it still had here, and every flow
        from now on."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        self._detach(worker)
        if not expected or self._inflight:
            log.warning(
                "sigv4: the worker process ended (exit %s); flows are inspected inline "
                "from now on (%d pending)",
                worker.proc.poll(),
                len(self._inflight),
            )
        for f, cap in list(self._inflight.values()):
            self._inspect_inline(f, cap)
        self._inflight.clear()

    def _detach(self, worker: WorkerClient) -> None:
        with contextlib.suppress(Exception):
            loop = asyncio.get_running_loop()
            loop.remove_reader(worker.fileno())
            loop.remove_writer(worker.send_fileno())
        self._writer_armed = False
        worker.kill()

    def _stop_worker(self) -> None:
        """Let the worker finish what it was sent (progress shown when that takes long),
        then stop it; whatever it could not finish is inspected inline."""
        worker = self._worker
        if worker is None:
            return
        worker.stop()
        start = last = time.monotonic()
        owed = len(self._inflight)
        # wait for the outcomes still owed, not for the worker's own exit (with nothing in
        # flight it may still be loading credentials)
        while self._inflight and not worker.dead and time.monotonic() - start < WORKER_DRAIN_S:
            self._on_messages(worker.wait(0.5))
            if self._inflight and time.monotonic() - last >= 5:
                last = time.monotonic()
                log.info("sigv4: finishing %d flow(s) in the worker ...", len(self._inflight))
        log.debug(
            "sigv4: waited %.2f s for the worker's last %d outcome(s)",
            time.monotonic() - start,
            owed,
        )
        # then a moment to say "stopped" (its last log line comes with it); a worker still
        # busy, e.g. loading credentials, is killed (at once if it never answered: it is
        # still starting). Once it has said it, it is only exiting: let it finish (a
        # profiler then sees the whole process; it takes ms)
        end = time.monotonic() + (WORKER_EXIT_S if worker.answered else 0.0)
        while not (worker.dead or worker.stopped) and (left := end - time.monotonic()) > 0:
            self._on_messages(worker.wait(left))
        worker.reap(WORKER_TEARDOWN_S if worker.stopped else end - time.monotonic())
        self._worker_lost(expected=True)

    def _proxy_changes(
        self, client: WireRequest, sent: http.Request, signed: Sequence[str]
    ) -> list[Any]:
        """What changed between the client's request and the one sent upstream, and which
        mitmproxy option (or 'another addon') did it."""
        opts = ctx.options
        from sigv4core.rules import ProxyChange  # only when the proxy changed something

        out: list[ProxyChange] = []
        upstream = wire_request(sent)
        signed_set = set(signed)
        names = {k.lower() for k, _ in client.headers} | {k.lower() for k, _ in upstream.headers}
        for name in sorted(names):
            a, b = client.header(name), upstream.header(name)
            if a == b or (a is not None and b is not None and a.strip() == b.strip()):
                continue
            if name == "host":
                continue
            out.append(
                ProxyChange("header", name, a, b, self._cause(name, opts), name in signed_set)
            )
        if (client.header("host") or "") != (upstream.header("host") or "") and client.header(
            "host"
        ) is not None:
            cause = (
                "map_remote option"
                if _opt("map_remote")
                else (
                    "reverse mode rewrites Host (set keep_host_header)"
                    if str(_opt("mode")).find("reverse") >= 0 and not _opt("keep_host_header")
                    else "another addon"
                )
            )
            out.append(
                ProxyChange(
                    "host",
                    "host",
                    client.header("host"),
                    upstream.header("host"),
                    cause,
                    "host" in signed_set,
                )
            )
        if client.path != upstream.path:
            out.append(
                ProxyChange(
                    "path",
                    None,
                    client.path,
                    upstream.path,
                    "map_remote option" if _opt("map_remote") else "another addon",
                    True,
                )
            )
        if client.raw_query != upstream.raw_query:
            out.append(
                ProxyChange(
                    "query",
                    None,
                    client.raw_query,
                    upstream.raw_query,
                    "anticache option"
                    if _opt("anticache")
                    else ("map_remote option" if _opt("map_remote") else "another addon"),
                    True,
                )
            )
        return out

    @staticmethod
    def _cause(name: str, opts: Any) -> str:
        if name == "accept-encoding" and _opt("anticomp"):
            return "anticomp option"
        if name in ("if-none-match", "if-modified-since") and _opt("anticache"):
            return "anticache option"
        if name == "authorization" and _opt("upstream_auth"):
            return "upstream_auth option"
        if name == "proxy-authorization" and _opt("upstream_auth"):
            return "upstream_auth option"
        if _opt("modify_headers") and any(
            name in str(spec).lower() for spec in _opt("modify_headers")
        ):
            return "modify_headers option"
        if name == "cookie" and _opt("stickycookie"):
            return "stickycookie option"
        if name == "authorization" and _opt("stickyauth"):
            return "stickyauth option"
        return "another addon"

    def _annotate(
        self, f: http.HTTPFlow, out: Outcome, lines: list[tuple[int, str]] | None = None
    ) -> None:
        f.metadata[META_KEY] = out.record
        f.comment = out.comment
        f.marked = out.marker
        with self._lock:
            self.counts[out.verdict] += 1
            for code in out.codes:
                self.codes[code] += 1
            if self._report is not None:
                self._report.write((out.line or json.dumps(out.record, ensure_ascii=True)) + "\n")
        self._flush_soon()
        if not self._quiet:
            level, line = self._line(out)
            if lines is None:
                log.log(level, "%s", line)
            else:
                lines.append((level, line))

    def _line(self, out: Outcome) -> tuple[int, str]:
        """One line per AWS flow (colored when the terminal takes it): the headline's code
        and the verdict first, the request, then the headline's message and fix under it,
        and the level to log it at."""
        rec = out.record
        color = self._colored()
        head = rec.get("headline")
        parts = [_paint("[sigv4] ", "bold", color)]
        if head:
            style = {"error": "red", "warning": "yellow"}.get(head["severity"], "")
            parts.append(_paint(f"{head['code']} ", style, color))
        parts += [
            _paint(f"({rec['verdict']})", VERDICT_STYLE.get(rec["verdict"], ""), color),
            _paint(f" {rec['method']} {rec['url'][:120]}", "", color),
        ]
        others = [d["code"] for d in rec["findings"][1:] if d["severity"] != "info"]
        if others:
            parts.append(_paint(f"  +{','.join(others[:6])}", "dim", color))
        if out.marker and head:
            style = "dim" if out.marker != ":x:" else ""
            text = f"{head['message']} -> {head['fix']}" if head["fix"] else head["message"]
            parts.append("\n" + _paint(f"         {text}", style, color))
        level = logging.WARNING if out.marker == ":x:" else logging.INFO
        return level, "".join(parts)

    def summary_text(self) -> str:
        total = sum(self.counts.values())
        head = f"sigv4 summary: {total} AWS flow(s): " + ", ".join(
            f"{k} {n}" for k, n in sorted(self.counts.items())
        )
        if not self.codes:
            return head
        from rich.table import Table

        table = Table()
        table.add_column("finding code")
        table.add_column("flows", justify="right")
        for code, n in self.codes.most_common():
            table.add_row(code, str(n))
        return head + "\n" + _render(table, self._colored())

    def _colored(self) -> bool:
        """ANSI colors in what the addon logs only when that goes to a terminal alone:
        mitmweb and the console UI (they have a "view") show their event log with the
        codes as text."""
        return not self._has_view and sys.stdout.isatty()

    def _log_summary(self) -> None:
        if sum(self.counts.values()):
            log.info("%s", self.summary_text())

    # -- commands ----------------------------------------------------------------------
    @command.command("sigv4.summary")
    def summary(self) -> None:
        "Print the counts of verdicts and finding codes so far."
        log.info("%s", self.summary_text())

    @command.command("sigv4.explain")
    def explain(self, flows: Sequence[flow.Flow]) -> None:
        "Print the full SigV4 breakdown (auth, canonical request, string to sign, findings) of flows."
        for fl in flows:
            rec = fl.metadata.get(META_KEY)
            log.info("%s", explain_record(rec) if rec else f"{fl.id}: no AWS signature record")

    @command.command("sigv4.export")
    def export(self, flows: Sequence[flow.Flow], path: types.Path) -> None:
        "Write the SigV4 records of flows to a file as JSON lines."
        n = 0
        with open(os.path.expanduser(path), "w", encoding="utf-8") as fh:
            for fl in flows:
                rec = fl.metadata.get(META_KEY)
                if rec:
                    fh.write(json.dumps(rec, ensure_ascii=True) + "\n")
                    n += 1
        log.info("sigv4: wrote %d record(s) to %s", n, path)

    @command.command("sigv4.bundle")
    def bundle(self, flows: Sequence[flow.Flow], path: types.Path) -> None:
        "Write a redacted bug-report bundle (.mitm, HAR, SUMMARY.md) of flows into a folder."
        import sigv4bundle

        self._ensure_credentials()  # every secret in use must be scrubbed
        secrets = [
            x
            for c in self.store.all_credentials()
            for x in (c.secret_access_key, c.session_token or "")
        ]
        paths = sigv4bundle.make_bundle(flows, Path(os.path.expanduser(path)), secrets=secrets)
        log.info("sigv4: bug-report bundle written: %s", ", ".join(str(p) for p in paths.values()))

    @command.command("sigv4.reverify")
    def reverify(self, flows: Sequence[flow.Flow]) -> None:
        "Verify flows again (e.g. after loading more credentials)."
        updated = []
        for fl in flows:
            if isinstance(fl, http.HTTPFlow):
                self._recorded.discard(fl.id)
                self._finalize(fl, inline=True)
                updated.append(fl)
        ctx.master.addons.trigger(UpdateHook(updated))


class AwsSignatureView(contentviews.Contentview):
    """Content view "AWS Signature": the parsed auth, canonical request, string to sign
    and findings of the request."""

    name = "AWS Signature"  # type: ignore[assignment]

    def prettify(self, data: bytes, metadata: contentviews.Metadata) -> str:
        fl = metadata.flow
        rec = fl.metadata.get(META_KEY) if fl is not None else None
        if not rec:
            raise ValueError("not an AWS-signed request")
        return explain_record(rec)

    def render_priority(self, data: bytes, metadata: contentviews.Metadata) -> float:
        fl = metadata.flow
        if (
            fl is not None
            and META_KEY in fl.metadata
            and isinstance(fl, http.HTTPFlow)
            and metadata.http_message is fl.request
        ):
            return 2.0
        return -1


contentviews.add(AwsSignatureView)
addons = [SigV4Inspector()]
