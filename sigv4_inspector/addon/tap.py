"""The stream tap: large or unknown-length AWS uploads are verified while they stream,
never buffered for the addon's sake, and never held up.

mitmproxy calls ``flow.request.stream`` once per chunk and once with ``b""`` at the end.
The tap hands each chunk to a :class:`~sigv4_inspector.runtime.feeder.StreamVerifier`
(a reference, no copy) and returns it unchanged at once: the hashing runs on another
thread, and if it ever falls behind its bound the body is given up
(PAYLOAD_NOT_VERIFIED) rather than the upload slowed. With ``sigv4_stream_verify=false``
large aws-chunked uploads stream untapped; their seed signature is still checked.

S3 POST uploads (browser forms, up to 5 GB) carry their authentication in the body: a
large ``multipart/form-data`` POST without header or query authentication to an AWS host is
streamed through the tap too, and the core's multipart parser reads its form as it passes
(the fields kept, the file only counted), so the proxy never holds the file. To other hosts
(S3-compatible servers) such forms are streamed when mitmproxy streams them
(``stream_large_bodies``), and otherwise read from the buffered body: the same code.
"""

from __future__ import annotations

from datetime import UTC, datetime

from mitmproxy import ctx, http

from sigv4_inspector.addon.capture import wire_request
from sigv4_inspector.addon.state import State
from sigv4_inspector.core.authparse import parse_auth
from sigv4_inspector.core.endpoints import is_aws_host
from sigv4_inspector.runtime.feeder import StreamVerifier

_SIZE_HEADERS = frozenset(
    (b"content-length", b"content-encoding", b"x-amz-decoded-content-length", b"content-type")
)
_SIZE_HEADER_LENGTHS = frozenset(map(len, _SIZE_HEADERS))  # most names are ruled out by length
MAX_STREAMS = 256  # uploads verified at once; beyond, they stream unverified


def _size_headers(fields: tuple[tuple[bytes, bytes], ...]) -> dict[bytes, bytes]:
    """The headers that tell a body's size and encoding, in one pass over the raw fields."""
    out: dict[bytes, bytes] = {}
    for k, v in fields:
        if len(k) in _SIZE_HEADER_LENGTHS and (lk := k.lower()) in _SIZE_HEADERS:
            out.setdefault(lk, v)
    return out


def _stream_large_bodies() -> bool:
    try:
        return bool(ctx.options.stream_large_bodies)
    except (AttributeError, KeyError):
        return False


class StreamTap:
    """Installs the tap on uploads that stream; the inspector takes the result."""

    name = "sigv4_stream_tap"

    def __init__(self, state: State) -> None:
        self.state = state
        self.streams: dict[str, StreamVerifier] = {}

    def requestheaders(self, f: http.HTTPFlow) -> None:
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
        settings = self.state.settings
        big = size is None or size > settings.stream_threshold
        form = (
            req.method == "POST"
            and b"multipart/form-data" in head.get(b"content-type", b"").lower()
        )
        # a large form to AWS is streamed (and read) rather than buffered: an S3 POST upload
        form_to_aws = big and form and settings.stream_verify and is_aws_host(req.host_header or "")
        if not (req.stream or (big and (aws_chunked or _stream_large_bodies())) or form_to_aws):
            return
        if not settings.stream_verify:  # streamed untouched: the seed signature is checked
            if big and aws_chunked and not req.stream:
                req.stream = True
            return
        wire = wire_request(req)
        unsigned = parse_auth(wire).scheme == "none"
        if (unsigned and not form) or len(self.streams) >= MAX_STREAMS:
            if big and aws_chunked and not req.stream:
                req.stream = True
            return
        from sigv4_inspector.core.verify import VerifySession

        # "now" is the request's time, as for buffered flows (the POST policy's expiration)
        when = datetime.fromtimestamp(req.timestamp_start, UTC) if req.timestamp_start else None
        verifier = StreamVerifier(
            VerifySession(wire, self.state.store, now=when or datetime.now(UTC))
        )
        self.streams[f.id] = verifier
        feed, finish = verifier.feed, verifier.finish

        def tap(data: bytes) -> bytes:
            if data:
                feed(data)  # never raises, never waits
            else:
                finish()
            return data

        req.stream = tap

    def take(self, flow_id: str) -> StreamVerifier | None:
        """The flow's stream verifier, once (None when its body was not tapped)."""
        v = self.streams.pop(flow_id, None)
        if v is not None:
            v.finish()  # the upload may have ended early (error, abort)
        return v
