"""A misbehaving forward HTTP proxy, to chain after mitmproxy in end-to-end tests.

``badhop`` plays the "hop after the proxy" of the failure cases in
``shared/spec/knowledge.md``: a corporate proxy, CDN or tunnel that changes a request after
the sigv4-inspector addon has verified it. Chain it with
``mitmdump --mode upstream:http://127.0.0.1:PORT --set ssl_verify_upstream_trusted_ca=CA``.

It listens on 127.0.0.1 and accepts absolute-form requests (``GET http://host:port/path``) and
``CONNECT``. A CONNECT tunnel is TLS-terminated with badhop's own throwaway CA (written to
``--certdir``; its path goes in the ready file and ``handle.ca_path``) so the request can be
changed, then forwarded over TLS to the real target (trusting ``--upstream-ca``).

Without switches every request is forwarded byte for byte: method, target, header order and
case, and body framing. Switches (CLI flags, and attributes of the :func:`start_badhop` handle):

* ``--strip-transfer-encoding`` / ``strip_transfer_encoding``: de-chunk the body and send it
  with Content-Length.
* ``--add-host-port`` / ``add_host_port``: append ``:443``/``:80`` to a Host without a port.
* ``--rewrite-content-type VALUE`` / ``rewrite_content_type``: replace (or add) Content-Type.
* ``--plus-for-space`` / ``plus_for_space``: turn ``%20`` into ``+`` in the path.
* ``--add-header NAME:VALUE`` / ``add_headers``: append a header (repeatable).
* ``--connect-to HOST:PORT`` / ``connect_to``: open every upstream connection to this address
  (Host, SNI and certificate checks keep the requested name). Names under ``.localhost``
  resolve to 127.0.0.1 anyway.

Every response gets ``Via: 1.1 badhop`` so a diagnosis can name the hop.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import socketserver
import ssl
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from sigv4_testsupport.fakeaws import announce_and_wait, make_ca, make_leaf, read_chunked

MAX_LINE = 65536


@dataclass
class Message:
    """An HTTP/1.1 message head plus body, kept as raw as possible."""

    start_line: str
    headers: list[tuple[str, str, bytes]]  # (name, value, raw line incl. CRLF)
    body: bytes = b""  # decoded (no transfer framing)
    raw_body: bytes = b""  # as on the wire

    def get(self, name: str) -> str | None:
        lname = name.lower()
        for n, v, _ in self.headers:
            if n.lower() == lname:
                return v
        return None

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        return self.get(name)

    @property
    def header_list(self) -> list[tuple[str, str]]:
        return [(n, v) for n, v, _ in self.headers]

    def is_chunked(self) -> bool:
        te = ",".join(v for n, v, _ in self.headers if n.lower() == "transfer-encoding")
        return "chunked" in te.lower()

    def set_header(self, name: str, value: str, add_if_missing: bool = True) -> None:
        lname = name.lower()
        for i, (n, _, _) in enumerate(self.headers):
            if n.lower() == lname:
                self.headers[i] = (n, value, f"{n}: {value}\r\n".encode("latin-1"))
                return
        if add_if_missing:
            self.headers.append((name, value, f"{name}: {value}\r\n".encode("latin-1")))

    def head_bytes(self) -> bytes:
        return (
            self.start_line.encode("latin-1")
            + b"\r\n"
            + b"".join(raw for _, _, raw in self.headers)
            + b"\r\n"
        )


def read_head(rfile: BinaryIO) -> Message | None:
    """Read a start line and header block; None on a clean EOF."""
    line = rfile.readline(MAX_LINE)
    while line in (b"\r\n", b"\n"):
        line = rfile.readline(MAX_LINE)
    if not line:
        return None
    headers: list[tuple[str, str, bytes]] = []
    while True:
        raw = rfile.readline(MAX_LINE)
        if raw in (b"\r\n", b"\n", b""):
            break
        text = raw.decode("latin-1").rstrip("\r\n")
        name, _, value = text.partition(":")
        headers.append((name, value.strip(" \t"), raw))
    return Message(line.decode("latin-1").rstrip("\r\n"), headers)


def read_body(rfile: BinaryIO, msg: Message, until_close: bool = False) -> bool:
    """Fill ``msg.body``/``raw_body``; return True when the body ended with the connection."""
    if msg.is_chunked():
        msg.body, msg.raw_body = read_chunked(rfile)
        return False
    length = msg.get("content-length")
    if length is not None and length.strip().isdigit():
        msg.body = msg.raw_body = rfile.read(int(length))
        return False
    if until_close:
        msg.body = msg.raw_body = rfile.read()
        return True
    return False


def _dechunk(msg: Message) -> None:
    new: list[tuple[str, str, bytes]] = []
    placed = False
    for n, v, raw in msg.headers:
        if n.lower() == "content-length":
            continue
        if n.lower() == "transfer-encoding":
            if not placed:
                cl = str(len(msg.body))
                new.append(("Content-Length", cl, f"Content-Length: {cl}\r\n".encode()))
                placed = True
            continue
        new.append((n, v, raw))
    msg.headers = new
    msg.raw_body = msg.body


class BadHop:
    """Handle for a running badhop; the switch attributes may be changed at any time."""

    def __init__(self) -> None:
        self.port: int = 0
        self.ca_path: Path | None = None
        self.strip_transfer_encoding = False
        self.add_host_port = False
        self.rewrite_content_type: str | None = None
        self.plus_for_space = False
        self.add_headers: list[tuple[str, str]] = []
        self.connect_to: tuple[str, int] | None = None
        self.upstream_ca: str | None = None
        self.received: list[Message] = []  # requests as they arrived from the client
        self.forwarded: list[Message] = []  # requests as badhop sent them on
        self.lock = threading.Lock()
        self._certdir = Path(".")
        self._ca_key: Any = None
        self._ca_cert: Any = None
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- handle API ----------------------------------------------------------------------

    def stop(self) -> None:
        """Shut the listener down."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> BadHop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- TLS --------------------------------------------------------------------------------

    def server_context(self, host: str) -> ssl.SSLContext:
        """TLS context presenting a badhop-CA certificate for ``host``."""
        with self.lock:
            ctx = self._contexts.get(host)
            if ctx is None:
                stem = "badhop-" + "".join(c if c.isalnum() else "_" for c in host)
                cert, key = make_leaf(self._ca_key, self._ca_cert, [host], self._certdir, stem)
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(cert, key)
                ctx.set_alpn_protocols(["http/1.1"])
                self._contexts[host] = ctx
            return ctx

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.upstream_ca)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    # ---- forwarding ------------------------------------------------------------------------

    def mutate(self, msg: Message, tls: bool) -> None:
        """Apply the enabled switches to an outgoing request."""
        if self.strip_transfer_encoding and msg.is_chunked():
            _dechunk(msg)
        if self.add_host_port:
            host = msg.get("host")
            has_port = "]:" in host if host and host.startswith("[") else ":" in (host or "")
            if host is not None and not has_port:
                msg.set_header("Host", f"{host}:{443 if tls else 80}")
        if self.rewrite_content_type is not None:
            msg.set_header("Content-Type", self.rewrite_content_type)
        if self.plus_for_space:
            method, target, version = msg.start_line.split(" ", 2)
            path, sep, query = target.partition("?")
            msg.start_line = f"{method} {path.replace('%20', '+')}{sep}{query} {version}"
        for name, value in self.add_headers:
            msg.headers.append((name, value, f"{name}: {value}\r\n".encode("latin-1")))

    def open_upstream(self, host: str, port: int, tls: bool) -> socket.socket:
        addr: tuple[str, int] = (host, port)
        if self.connect_to is not None:
            addr = self.connect_to
        elif host == "localhost" or host.endswith(".localhost"):
            addr = ("127.0.0.1", port)
        sock = socket.create_connection(addr, timeout=60)
        if tls:
            return self.client_context().wrap_socket(sock, server_hostname=host)
        return sock

    def exchange(
        self, msg: Message, host: str, port: int, tls: bool, client: socket.socket
    ) -> bool:
        """Forward one request and relay its response; return False to close the client."""
        self.mutate(msg, tls)
        with self.lock:
            self.forwarded.append(msg)
        try:
            up = self.open_upstream(host, port, tls)
        except OSError as e:
            body = f"badhop: cannot reach {host}:{port}: {e}\n".encode()
            client.sendall(
                b"HTTP/1.1 502 Bad Gateway\r\nVia: 1.1 badhop\r\nContent-Type: text/plain\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            return False
        with up:
            up.sendall(msg.head_bytes() + msg.raw_body)
            rfile = up.makefile("rb")
            while True:
                resp = read_head(rfile)
                if resp is None:
                    return False
                status = int(resp.start_line.split(" ", 2)[1])
                if 100 <= status < 200:
                    continue  # the client already got our 100 Continue
                break
            method = msg.start_line.split(" ", 1)[0]
            closed = False
            if method != "HEAD" and status not in (204, 304):
                closed = read_body(rfile, resp, until_close=True)
            resp.headers.append(("Via", "1.1 badhop", b"Via: 1.1 badhop\r\n"))
            client.sendall(resp.head_bytes() + resp.raw_body)
        conn_hdr = (resp.get("connection") or "").lower()
        return not closed and "close" not in conn_hdr

    def serve_connection(self, sock: socket.socket) -> None:
        """Serve one client connection (absolute-form requests and CONNECT tunnels)."""
        rfile = sock.makefile("rb")
        while True:
            msg = read_head(rfile)
            if msg is None:
                return
            parts = msg.start_line.split(" ")
            if len(parts) != 3:
                return
            method, target, _ = parts
            if method == "CONNECT":
                host, _, port_s = target.rpartition(":")
                host = host.strip("[]")
                sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                first = sock.recv(1, socket.MSG_PEEK)
                if first == b"\x16":
                    tls_sock = self.server_context(host).wrap_socket(sock, server_side=True)
                    self.serve_tunnel(tls_sock, host, int(port_s), tls=True)
                else:
                    self.serve_tunnel(sock, host, int(port_s), tls=False)
                return
            url = urlsplit(target)
            if not url.scheme or not url.hostname:
                body = b"badhop: absolute-form request or CONNECT expected\n"
                sock.sendall(
                    b"HTTP/1.1 400 Bad Request\r\nVia: 1.1 badhop\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                return
            if not self.read_request_body(rfile, sock, msg):
                return
            tls = url.scheme == "https"
            origin = target.split("://", 1)[1]
            origin = origin[origin.find("/") :] if "/" in origin else "/"
            msg.start_line = f"{method} {origin} {parts[2]}"
            msg.headers = [h for h in msg.headers if not h[0].lower().startswith("proxy-")]
            port = url.port or (443 if tls else 80)
            if not self.exchange(msg, url.hostname, port, tls, sock):
                return

    def serve_tunnel(self, sock: socket.socket, host: str, port: int, tls: bool) -> None:
        rfile = sock.makefile("rb")
        while True:
            msg = read_head(rfile)
            if msg is None:
                return
            if not self.read_request_body(rfile, sock, msg):
                return
            if not self.exchange(msg, host, port, tls, sock):
                return

    def read_request_body(self, rfile: BinaryIO, sock: socket.socket, msg: Message) -> bool:
        with self.lock:
            self.received.append(Message(msg.start_line, list(msg.headers)))
            rec = self.received[-1]
        if (msg.get("expect") or "").lower() == "100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            read_body(rfile, msg)
        except (ConnectionError, ValueError):
            return False
        rec.body, rec.raw_body = msg.body, msg.raw_body
        return True


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.request.settimeout(120)
        with contextlib.suppress(OSError, ssl.SSLError, ValueError):
            self.server.hop.serve_connection(self.request)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], hop: BadHop) -> None:
        self.hop = hop
        super().__init__(addr, _Handler)


def start_badhop(
    certdir: str | Path,
    *,
    port: int = 0,
    upstream_ca: str | Path | None = None,
    strip_transfer_encoding: bool = False,
    add_host_port: bool = False,
    rewrite_content_type: str | None = None,
    plus_for_space: bool = False,
    add_headers: list[tuple[str, str]] | None = None,
    connect_to: tuple[str, int] | None = None,
) -> BadHop:
    """Start badhop in a background thread on 127.0.0.1 and return its handle."""
    hop = BadHop()
    hop._certdir = Path(certdir).resolve()
    hop._ca_key, hop._ca_cert, hop.ca_path = make_ca(hop._certdir, "badhop")
    hop.upstream_ca = str(upstream_ca) if upstream_ca else None
    hop.strip_transfer_encoding = strip_transfer_encoding
    hop.add_host_port = add_host_port
    hop.rewrite_content_type = rewrite_content_type
    hop.plus_for_space = plus_for_space
    hop.add_headers = list(add_headers or [])
    hop.connect_to = connect_to
    srv = _Server(("127.0.0.1", port), hop)
    hop._server = srv
    hop.port = srv.server_address[1]
    hop._thread = threading.Thread(target=srv.serve_forever, name="badhop", daemon=True)
    hop._thread.start()
    return hop


def _header_arg(value: str) -> tuple[str, str]:
    name, sep, val = value.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError("expected NAME:VALUE")
    return name.strip(), val.strip()


def _addr_arg(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--certdir", required=True, help="where badhop's CA and leaf certs go")
    p.add_argument("--ready-file", help="write {port, ca} JSON here when listening")
    p.add_argument("--upstream-ca", help="CA bundle to trust for upstream TLS (fakeaws's CA)")
    p.add_argument("--strip-transfer-encoding", action="store_true")
    p.add_argument("--add-host-port", action="store_true")
    p.add_argument("--rewrite-content-type", metavar="VALUE")
    p.add_argument("--plus-for-space", action="store_true")
    p.add_argument("--add-header", action="append", type=_header_arg, default=[])
    p.add_argument("--connect-to", type=_addr_arg, metavar="HOST:PORT")
    args = p.parse_args(argv)
    hop = start_badhop(
        args.certdir,
        port=args.port,
        upstream_ca=args.upstream_ca,
        strip_transfer_encoding=args.strip_transfer_encoding,
        add_host_port=args.add_host_port,
        rewrite_content_type=args.rewrite_content_type,
        plus_for_space=args.plus_for_space,
        add_headers=args.add_header,
        connect_to=args.connect_to,
    )
    info = {"port": hop.port, "ca": str(hop.ca_path)}
    announce_and_wait(info, args.ready_file)
    hop.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
