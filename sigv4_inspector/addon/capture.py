"""Capture and blame: the request exactly as the client sent it, and what the proxy changed.

``requestheaders`` snapshots the head before any other addon or option (``modify_headers``,
``anticomp``, ``map_remote`` ...) touches it; ``request`` keeps the body before
``modify_body`` and ``map_local`` run (scripts come first). When the flow ends,
:meth:`Capture.take` turns it into the core's plain :class:`FlowCapture`: the client's
request, the response, and each difference from what went upstream with the mitmproxy
option (or "another addon") that made it.

Cheap on every flow: the snapshot keeps references to mitmproxy's immutable header tuple
and body bytes, and nothing is decoded until the flow is known to concern AWS.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from typing import Any

from mitmproxy import ctx, http

from sigv4_inspector.core.capture import FlowCapture, decode_fields, pick_authority
from sigv4_inspector.core.endpoints import is_aws_host
from sigv4_inspector.core.model import WireRequest, fingerprint
from sigv4_inspector.core.rules import ProxyChange

MAX_OPEN = 10000  # flows between their request and their end (bounded memory)
ERROR_BODY_LIMIT = 1 << 20  # response bodies read for an AWS error (raw, and decoded)


def bounded_decode(raw: bytes, encoding: str, limit: int) -> bytes | None:
    """The first ``limit`` bytes of a body decoded from its Content-Encoding, never more
    (a small compressed body can inflate to gigabytes: the decoder stops at the limit);
    None when the encoding is not one mitmproxy decodes or the body is broken."""
    enc = encoding.strip().lower()
    try:
        if enc in ("", "identity"):
            return raw[:limit]
        if enc in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, limit)
        if enc == "deflate":  # zlib-wrapped, or raw deflate as some servers send it
            try:
                return zlib.decompressobj(zlib.MAX_WBITS).decompress(raw, limit)
            except zlib.error:
                return zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw, limit)
        if enc == "br":
            import brotli  # type: ignore[import-untyped]

            return bytes(brotli.Decompressor().process(raw, output_buffer_limit=limit)[:limit])
        if enc == "zstd":
            try:
                from compression import zstd  # type: ignore[import-not-found,unused-ignore]
            except ImportError:
                from backports import zstd  # type: ignore[import-not-found,no-redef,unused-ignore]
            return bytes(zstd.ZstdDecompressor().decompress(raw, max_length=limit))
    except Exception:  # broken or truncated: no body to read
        return None
    return None  # several encodings stacked, or one mitmproxy does not know


MAX_RESPONSE_HEADERS = 1000  # response header fields read (a hostile server may send more)


def _opt(name: str) -> Any:
    """An option's value, or None when that option is not registered (tests)."""
    try:
        return getattr(ctx.options, name)
    except (AttributeError, KeyError):
        return None


def h2_authority(req: http.Request) -> str:
    return req.authority if (req.is_http2 or req.is_http3) else ""


def default_authority(req: http.Request) -> str:
    return req.authority or f"{req.host}:{req.port}"


def wire_request(req: http.Request) -> WireRequest:
    """The core's view of a mitmproxy request (raw body; ``None`` when not stored)."""
    hdrs = decode_fields(req.headers.fields)
    return WireRequest(
        req.method,
        req.path,
        hdrs,
        req.raw_content,
        pick_authority(hdrs, h2_authority(req), default_authority(req)),
        req.scheme,
    )


def maybe_aws(fields: Sequence[tuple[bytes, bytes]], target: bytes, host: str) -> bool:
    """The cheap test before any parsing: an Authorization header, an AWS query parameter
    (also percent-encoded), a form body that could be an S3 POST upload, or an AWS host.
    A superset of what the core inspects."""
    for k, v in fields:
        n = len(k)
        if n == 13 and k.lower() == b"authorization":
            return True
        if n == 12 and k.lower() == b"content-type" and b"multipart/form-data" in v.lower():
            return True
    t = target.lower()
    if b"amz" in t or b"accesskeyid" in t or b"%" in t:
        return True
    return is_aws_host(host)


def input_source(f: http.HTTPFlow) -> str:
    """``live``, ``file`` (read from a .mitm file) or ``har``: mitmproxy's HAR import gives
    every flow the client address 127.0.0.1:0 (mitmproxy.io.har.request_to_flow), which no
    real connection has."""
    if f.live:
        return "live"
    c = f.client_conn
    if c.peername == ("127.0.0.1", 0) and c.sockname == ("127.0.0.1", 0):
        return "har"
    return "file"


class Snapshot:
    """The request as the client sent it: the head at ``requestheaders``, the body at our
    ``request`` hook. mitmproxy replaces the immutable ``headers.fields`` tuple and the body
    bytes on every change, so references are true snapshots."""

    __slots__ = ("method", "target", "fields", "timestamp", "body", "body_seen")

    def __init__(self, req: http.Request) -> None:
        self.method = req.data.method
        self.target = req.data.path
        self.fields = req.headers.fields
        self.timestamp = req.timestamp_start or time.time()
        self.body: bytes | None = None
        self.body_seen = False

    def keep_body(self, req: http.Request) -> None:
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
        if b"expect" in self.target.lower():  # X-Amz-SignedHeaders of a presigned URL
            return True
        return any(k.lower() == b"authorization" and b"expect" in v.lower() for k, v in self.fields)


class Capture:
    """Snapshots each request and, when the flow ends, captures it for the inspector."""

    name = "sigv4_capture"

    def __init__(self) -> None:
        self.snapshots: dict[str, Snapshot] = {}
        self.open: dict[str, http.HTTPFlow] = {}  # flows seen, not yet ended

    def requestheaders(self, f: http.HTTPFlow) -> None:
        if len(self.snapshots) < MAX_OPEN:
            self.snapshots[f.id] = Snapshot(f.request)

    def request(self, f: http.HTTPFlow) -> None:
        snap = self.snapshots.get(f.id)
        if snap is None and len(self.snapshots) < MAX_OPEN:
            snap = self.snapshots[f.id] = Snapshot(f.request)  # replayed flows skip requestheaders
        if snap is not None and not callable(f.request.stream):
            snap.keep_body(f.request)
        if len(self.open) < MAX_OPEN:
            self.open[f.id] = f

    def take(self, f: http.HTTPFlow, *, blame: bool = True, **extra: Any) -> FlowCapture | None:
        """The flow as plain data for the core (None when it cannot concern AWS). Forgets
        the flow's snapshot. ``blame=False``: the request as sent, nothing compared (after
        a failure, for the ``unverified`` record)."""
        self.open.pop(f.id, None)
        snap = self.snapshots.pop(f.id, None) if blame else None
        sent = f.request
        d = sent.data
        head = snap if snap is not None and not snap.unchanged(sent) else None
        body_changed = snap is not None and snap.body_changed(sent)
        method, target, fields = (
            (d.method, d.path, d.headers.fields)
            if head is None
            else (head.method, head.target, head.fields)
        )
        if not maybe_aws(fields, target, d.host):
            return None
        resp = f.response
        status: int | None = None
        rfields: tuple[tuple[bytes, bytes], ...] = ()
        rbody: bytes | None = None
        if resp is not None:
            status, rfields = resp.status_code, resp.headers.fields[:MAX_RESPONSE_HEADERS]
            raw = resp.raw_content
            if status >= 300 and raw is not None and len(raw) <= ERROR_BODY_LIMIT:
                encoding = resp.headers.get("content-encoding", "")
                rbody = bounded_decode(raw, encoding, ERROR_BODY_LIMIT)
        peer = f.client_conn.peername
        cap = FlowCapture(
            flow_id=f.id,
            method=method,
            target=target,
            fields=fields,
            body=snap.body if body_changed and snap is not None else sent.raw_content,
            scheme=sent.scheme,
            h2_authority=h2_authority(sent),
            default_authority=default_authority(sent),
            seen_at=snap.timestamp if snap is not None else (sent.timestamp_start or time.time()),
            client_addr=str(peer[0]) if peer else "?",
            status=status,
            response_fields=rfields,
            response_body=rbody,
            input_source=input_source(f),
            **extra,
        )
        if head is not None or body_changed:
            from sigv4_inspector.core.authparse import parse_auth

            client = cap.wire()
            auth = parse_auth(client)
            changes = proxy_changes(client, sent, auth.signed_headers)
            if body_changed:
                changes.append(body_change(client, sent, auth.payload))
            cap = cap._replace(proxy_changes=tuple(changes))
        return cap


def proxy_changes(
    client: WireRequest, sent: http.Request, signed: Sequence[str]
) -> list[ProxyChange]:
    """What changed between the client's request and the one sent upstream, and which
    mitmproxy option (or 'another addon') did it. Linear in the headers."""
    out: list[ProxyChange] = []
    upstream = wire_request(sent)
    signed_set = set(signed)
    names = dict.fromkeys(k.lower() for k, _ in client.headers)
    names.update(dict.fromkeys(k.lower() for k, _ in upstream.headers))
    for name in sorted(names):
        a, b = client.header(name), upstream.header(name)
        if a == b or (a is not None and b is not None and a.strip() == b.strip()):
            continue
        if name == "host":
            continue
        out.append(ProxyChange("header", name, a, b, header_cause(name), name in signed_set))
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


def header_cause(name: str) -> str:
    """The mitmproxy option that changes this header, when one is on."""
    if name == "accept-encoding" and _opt("anticomp"):
        return "anticomp option"
    if name in ("if-none-match", "if-modified-since") and _opt("anticache"):
        return "anticache option"
    if name in ("authorization", "proxy-authorization") and _opt("upstream_auth"):
        return "upstream_auth option"
    if _opt("modify_headers") and any(name in str(spec).lower() for spec in _opt("modify_headers")):
        return "modify_headers option"
    if name == "cookie" and _opt("stickycookie"):
        return "stickycookie option"
    if name == "authorization" and _opt("stickyauth"):
        return "stickyauth option"
    return "another addon"


def body_change(client: WireRequest, sent: http.Request, payload: str | None) -> ProxyChange:
    """The proxy changed the body (modify_body, map_local, another addon)."""

    def shown(body: bytes | None) -> str:
        return "unknown" if body is None else f"{len(body)} bytes, {fingerprint(body)}"

    p = payload or ""
    signed = p not in ("UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    cause = (
        "modify_body option"
        if _opt("modify_body")
        else ("map_local option" if _opt("map_local") else "another addon")
    )
    return ProxyChange("body", None, shown(client.body), shown(sent.raw_content), cause, signed)
