"""fakeaws's server: the shared state (:class:`FakeAWS`, also the handle tests get), routing
by Host header, the HTTP/1.1 plumbing that records each request exactly as it arrived, the
HTTP and HTTPS listeners (:func:`start_fakeaws`) and the command line (:func:`main`)."""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import json
import signal
import ssl
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import dynamodb, s3, sigv4, sts
from .certs import fakeaws_names, make_ca, make_leaf
from .model import (
    DEFAULT_REGION,
    EXAMPLE_ACCESS_KEY,
    EXAMPLE_SECRET_KEY,
    AuthError,
    ReceivedRequest,
    Response,
    Route,
    StoredObject,
    TempCredential,
    xml_escape,
)

DESCRIPTION = "A local AWS-like endpoint for end-to-end tests of the sigv4-inspector addons."


class FakeAWS:
    """State shared by the HTTP and HTTPS listeners; also the handle :func:`start_fakeaws` returns.

    Switches (attributes, settable at any time):

    * ``clock_offset``: seconds added to the server clock (skew / expiry failures).
    * ``echo_canonical``: when False, S3 SignatureDoesNotMatch omits StringToSign and
      CanonicalRequest (like MinIO and other S3-compatible stores).
    * ``reject_checksum_trailers``: answer ``aws-chunked``/``x-amz-checksum-*``/trailer uploads
      with 501 NotImplemented, like an S3-compatible store without the 2025 SDK defaults.
    * ``server_header``: the ``Server`` header on S3 responses (default ``AmazonS3``).
    * ``ip_region``: expected scope region when the Host is an IP (None: accept any).
    * ``ip_sts_global``: treat STS requests to an IP Host as the global endpoint.
    """

    def __init__(self, credentials: dict[str, str] | None = None) -> None:
        self.lock = threading.RLock()
        self.credentials: dict[str, str] = {EXAMPLE_ACCESS_KEY: EXAMPLE_SECRET_KEY}
        self.credentials.update(credentials or {})
        self.temp_credentials: dict[str, TempCredential] = {}
        self.requests: list[ReceivedRequest] = []
        self.buckets: dict[str, dict[str, StoredObject]] = {}
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.clock_offset: float = 0.0
        self.echo_canonical: bool = True
        self.reject_checksum_trailers: bool = False
        self.server_header: str = "AmazonS3"
        self.ip_region: str | None = None
        self.ip_sts_global: bool = False
        self.http_port: int = 0
        self.https_port: int = 0
        self.ca_path: Path | None = None
        self._servers: list[http.server.ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []

    # ---- handle API ----------------------------------------------------------------------

    def add_credential(self, access_key: str, secret_key: str) -> None:
        """Accept a long-term key pair."""
        with self.lock:
            self.credentials[access_key] = secret_key

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.clock_offset)

    def clear(self) -> None:
        """Forget recorded requests."""
        with self.lock:
            self.requests.clear()

    def stop(self) -> None:
        """Shut the listeners down."""
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> FakeAWS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- dispatch -------------------------------------------------------------------------

    def record(self, req: ReceivedRequest) -> None:
        with self.lock:
            self.requests.append(req)

    def handle(self, req: ReceivedRequest) -> Response:
        host = req.header("host") or ""
        route = self.route(host, req)
        try:
            if route.service == "s3":
                resp = s3.handle(self, req, route, host)
            elif route.service == "dynamodb":
                resp = dynamodb.handle(self, req, route, host)
            else:
                resp = sts.handle(self, req, route, host)
        except AuthError as e:
            resp = e.response
        if req.method == "HEAD":
            resp.no_body = True
        req.status = resp.status
        return resp

    def route(self, host: str, req: ReceivedRequest) -> Route:
        h = host.strip().lower()
        if h.startswith("["):
            h = h[1 : h.find("]")]
        elif h.count(":") == 1:
            h = h.split(":", 1)[0]
        h = h.rstrip(".")
        if h.endswith(".localhost"):
            labels = h[: -len(".localhost")].split(".")
            if labels == ["sts"]:
                return Route("sts", DEFAULT_REGION, sts_global=True)
            if len(labels) == 2 and labels[0] == "sts":
                return Route("sts", labels[1])
            if len(labels) == 2 and labels[0] == "dynamodb":
                return Route("dynamodb", labels[1])
            if labels == ["s3"]:
                return Route("s3", DEFAULT_REGION)
            if len(labels) == 2 and labels[0] == "s3":
                return Route("s3", labels[1])
            if len(labels) >= 3 and labels[-2] == "s3":
                return Route("s3", labels[-1], bucket=".".join(labels[:-2]))
            if len(labels) >= 2 and labels[-1] == "s3":
                return Route("s3", DEFAULT_REGION, bucket=".".join(labels[:-1]))
        # IP address, plain localhost or unknown name: infer the service.
        service = self._scope_service(req)
        if service is None:
            if req.header("x-amz-target"):
                service = "dynamodb"
            elif b"Action=" in req.body[:200] or "Action=" in req.query:
                service = "sts"
            else:
                service = "s3"
        if service not in ("s3", "dynamodb", "sts"):
            service = "s3"
        return Route(service, self.ip_region, sts_global=service == "sts" and self.ip_sts_global)

    @staticmethod
    def _scope_service(req: ReceivedRequest) -> str | None:
        auth = req.header("authorization") or ""
        cred = ""
        if "Credential=" in auth:
            cred = auth.split("Credential=", 1)[1].split(",", 1)[0]
        else:
            cred = sigv4.query_dict(req.query).get("X-Amz-Credential", "")
        parts = cred.strip().split("/")
        if len(parts) == 5:
            return parts[3]
        if len(parts) == 4:
            return parts[2]
        return None

    # ---- authentication -------------------------------------------------------------------


class _TeeReader:
    """Records the header lines ``http.client.parse_headers`` reads."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lines: list[bytes] = []

    def readline(self, limit: int = -1) -> bytes:
        line: bytes = self.inner.readline(limit)
        self.lines.append(line)
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def parse_header_lines(lines: list[bytes]) -> list[tuple[str, str]]:
    """Raw header lines -> [(name as sent, value without surrounding whitespace)]."""
    out: list[tuple[str, str]] = []
    for raw in lines:
        line = raw.decode("latin-1").rstrip("\r\n")
        if not line:
            continue
        if line[0] in " \t" and out:  # obsolete line folding
            name, value = out[-1]
            out[-1] = (name, f"{value} {line.strip()}")
            continue
        name, _, value = line.partition(":")
        out.append((name, value.strip(" \t")))
    return out


def read_chunked(rfile: Any) -> tuple[bytes, bytes]:
    """Read an HTTP/1.1 chunked body: (decoded body, raw wire bytes)."""
    raw = bytearray()
    body = bytearray()
    while True:
        line = rfile.readline(65537)
        if not line:
            raise ConnectionError("eof in chunked body")
        raw += line
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while True:
                tline = rfile.readline(65537)
                raw += tline
                if tline in (b"\r\n", b"\n", b""):
                    return bytes(body), bytes(raw)
        data = rfile.read(size + 2)
        raw += data
        body += data[:size]


class _Handler(http.server.BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    protocol_version = "HTTP/1.1"
    server_version = "AmazonS3"
    sys_version = ""
    server: _Server
    raw_requestline: bytes

    def parse_request(self) -> bool:
        real = self.rfile
        tee = _TeeReader(real)
        self.rfile = tee  # type: ignore[assignment]
        try:
            ok = super().parse_request()
        finally:
            self.rfile = real
        self.raw_header_lines = tee.lines
        return ok

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.state_verbose:
            sys.stderr.write(f"fakeaws: {format % args}\n")

    def _serve(self) -> None:
        requestline = self.raw_requestline.decode("latin-1").rstrip("\r\n")
        words = requestline.split()
        target = words[1] if len(words) >= 2 else "/"
        headers = parse_header_lines(self.raw_header_lines)
        te = ",".join(v for k, v in headers if k.lower() == "transfer-encoding").lower()
        if "chunked" in te:
            body, raw = read_chunked(self.rfile)
        else:
            length = next((v for k, v in headers if k.lower() == "content-length"), "0")
            n = int(length) if length.strip().isdigit() else 0
            body = self.rfile.read(n) if n else b""
            raw = body
        req = ReceivedRequest(
            method=self.command,
            target=target,
            headers=headers,
            body=body,
            raw_body=raw,
            scheme=self.server.scheme,
            http_version=self.request_version,
            received_at=time.time(),
        )
        state = self.server.state
        state.record(req)
        try:
            resp = state.handle(req)
        except Exception as e:  # keep serving; report as an AWS-like 500
            import traceback

            traceback.print_exc()
            resp = Response(
                500,
                [("Content-Type", "application/xml")],
                (
                    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
                    f"<Message>We encountered an internal error. Please try again. "
                    f"({xml_escape(type(e).__name__)})</Message></Error>"
                ).encode(),
            )
            req.status = 500
        self.send_response_only(resp.status)
        for k, v in resp.headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not resp.no_body and resp.body:
            self.wfile.write(resp.body)

    def send_response_only(self, code: int, message: str | None = None) -> None:
        super().send_response_only(code, message)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _serve


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        addr: tuple[str, int],
        state: FakeAWS,
        scheme: str,
        ssl_ctx: ssl.SSLContext | None,
        verbose: bool = False,
    ) -> None:
        self.state = state
        self.scheme = scheme
        self.ssl_ctx = ssl_ctx
        self.state_verbose = verbose
        super().__init__(addr, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS handshake in the per-connection thread, never in the accept loop.
        if self.ssl_ctx is not None:
            request.settimeout(30)
            try:
                request = self.ssl_ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def start_fakeaws(
    certdir: str | Path,
    *,
    http_port: int = 0,
    https_port: int = 0,
    credentials: dict[str, str] | None = None,
    clock_offset: float = 0.0,
    extra_names: Iterable[str] = (),
    verbose: bool = False,
) -> FakeAWS:
    """Start fakeaws in background threads on 127.0.0.1 and return its handle.

    The handle has ``http_port``, ``https_port``, ``ca_path``, ``requests``
    (:class:`ReceivedRequest` list), ``add_credential()``, the switches documented on
    :class:`FakeAWS`, and ``stop()``.
    """
    certdir = Path(certdir).resolve()
    state = FakeAWS(credentials)
    state.clock_offset = clock_offset
    ca_key, ca_cert, ca_path = make_ca(certdir, "fakeaws")
    cert_path, key_path = make_leaf(
        ca_key, ca_cert, [*fakeaws_names(), *extra_names], certdir, "fakeaws-leaf"
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    ctx.set_alpn_protocols(["http/1.1"])
    state.ca_path = ca_path
    for port, scheme, sctx in ((http_port, "http", None), (https_port, "https", ctx)):
        srv = _Server(("127.0.0.1", port), state, scheme, sctx, verbose)
        t = threading.Thread(target=srv.serve_forever, name=f"fakeaws-{scheme}", daemon=True)
        t.start()
        state._servers.append(srv)
        state._threads.append(t)
        if scheme == "http":
            state.http_port = srv.server_address[1]
        else:
            state.https_port = srv.server_address[1]
    return state


def _parse_credential_arg(value: str) -> tuple[str, str]:
    akid, sep, secret = value.partition(":")
    if not sep or not akid or not secret:
        raise argparse.ArgumentTypeError("expected AKID:SECRET")
    return akid, secret


def announce_and_wait(info: dict[str, Any], ready_file: str | None) -> None:
    """Print the listening info (and write it atomically to ``ready_file``), then block
    until SIGTERM or Ctrl-C. Shared by fakeaws and badhop."""
    if ready_file:
        tmp = Path(ready_file + ".tmp")
        tmp.write_text(json.dumps(info))
        tmp.replace(ready_file)
    print(json.dumps(info), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1):
            pass
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument("--http-port", type=int, default=0)
    p.add_argument("--https-port", type=int, default=0)
    p.add_argument("--certdir", required=True, help="where the CA and leaf certificate go")
    p.add_argument("--ready-file", help="write {http_port, https_port, ca} JSON here when ready")
    p.add_argument(
        "--credentials",
        action="append",
        type=_parse_credential_arg,
        default=[],
        metavar="AKID:SECRET",
        help="accept this long-term key pair (repeatable; the AWS example pair is built in)",
    )
    p.add_argument("--clock-offset", type=float, default=0.0, help="seconds added to the clock")
    p.add_argument("--no-echo", action="store_true", help="S3 errors omit the canonical request")
    p.add_argument(
        "--reject-checksum-trailers",
        action="store_true",
        help="answer aws-chunked/x-amz-checksum uploads with 501 NotImplemented",
    )
    p.add_argument("--server-header", default="AmazonS3")
    p.add_argument("--ip-region", help="expected region when the Host is an IP address")
    p.add_argument("--ip-sts-global", action="store_true", help="STS on an IP Host acts global")
    p.add_argument("--extra-name", action="append", default=[], help="extra certificate name")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    state = start_fakeaws(
        args.certdir,
        http_port=args.http_port,
        https_port=args.https_port,
        credentials=dict(args.credentials),
        clock_offset=args.clock_offset,
        extra_names=args.extra_name,
        verbose=args.verbose,
    )
    state.echo_canonical = not args.no_echo
    state.reject_checksum_trailers = args.reject_checksum_trailers
    state.server_header = args.server_header
    state.ip_region = args.ip_region
    state.ip_sts_global = args.ip_sts_global
    info = {"http_port": state.http_port, "https_port": state.https_port, "ca": str(state.ca_path)}
    announce_and_wait(info, args.ready_file)
    state.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
