"""A large signed ``aws-chunked`` upload generated on the fly, never held whole in memory:
a ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` PUT (with ``trailer``: ``...-PAYLOAD-TRAILER``, a
CRC32C checksum trailer and a trailer signature) whose seed signature is computed by
botocore's SigV4Auth, with chunk signatures chained by hmac. Every full chunk carries the
same data, so :meth:`ChunkedUpload.buffers` can hand a socket's ``sendmsg`` the body as
small header lines around one shared data object. ``tamper`` flips one byte of that chunk's
data after it was signed. Shared by tests/test_traffic_integrity.py and bench/upload.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator

from awscrt import checksums as crt
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sigv4_inspector.core.model import WireRequest
from sigv4_testsupport.fakeaws import EXAMPLE_ACCESS_KEY as AKID
from sigv4_testsupport.fakeaws import EXAMPLE_SECRET_KEY as SECRET

MODE = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
MODE_NO_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
CRLF = b"\r\n"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class ChunkedUpload:
    """A signed aws-chunked PUT of ``total`` bytes in ``chunk``-byte chunks to ``host``."""

    def __init__(
        self,
        total: int,
        chunk: int,
        host: str,
        path: str = "/bench/big",
        *,
        trailer: bool = True,
        tamper: int | None = None,
    ) -> None:
        self.total, self.chunk, self.host, self.path = total, chunk, host, path
        self.trailer, self.tamper = trailer, tamper
        self.mode = MODE if trailer else MODE_NO_TRAILER
        self.data = (bytes(range(256)) * (chunk // 256 + 1))[:chunk]
        self.sizes = [chunk] * (total // chunk) + ([total % chunk] if total % chunk else [])
        tail = len("0;chunk-signature=") + 64 + 2 + 2
        if trailer:
            tail += len("x-amz-checksum-crc32c:") + 8 + 2 + len("x-amz-trailer-signature:") + 64 + 2
        self.content_length = tail + sum(
            len(f"{n:x};chunk-signature=") + 64 + 2 + n + 2 for n in self.sizes
        )
        headers = {
            "Content-Encoding": "aws-chunked",
            "X-Amz-Content-SHA256": self.mode,
            "X-Amz-Decoded-Content-Length": str(total),
            "Content-Length": str(self.content_length),
        }
        if trailer:
            headers["X-Amz-Trailer"] = "x-amz-checksum-crc32c"
        req = AWSRequest("PUT", f"http://{host}{path}", headers=headers)
        SigV4Auth(Credentials(AKID, SECRET), "s3", "us-east-1").add_auth(req)
        self.headers = [("Host", host), *((k, str(v)) for k, v in req.headers.items())]
        auth = dict(req.headers)["Authorization"]
        self.seed = auth.rsplit("Signature=", 1)[1]
        self.amz_date = dict(req.headers)["X-Amz-Date"]
        date = self.amz_date[:8]
        self.scope = f"{date}/us-east-1/s3/aws4_request"
        key = _hmac(("AWS4" + SECRET).encode(), date)
        for part in ("us-east-1", "s3", "aws4_request"):
            key = _hmac(key, part)
        self.key = key

    def _sig(self, sts: str) -> str:
        return hmac.new(self.key, sts.encode(), hashlib.sha256).hexdigest()

    def wire(self) -> WireRequest:
        """The request head as the core sees it (body fed separately)."""
        return WireRequest.build("PUT", self.path, self.headers, None, authority=self.host)

    def head(self) -> bytes:
        """The HTTP/1.1 request head for sending it in absolute form through a proxy."""
        lines = [f"PUT http://{self.host}{self.path} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in self.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def frames(self) -> Iterator[tuple[bytes, bytes]]:
        """(chunk header line with its CRLF, data) per chunk, the data followed by CRLF on
        the wire; then the final chunk (and trailer) as one header with empty data."""
        prefix = f"AWS4-HMAC-SHA256-PAYLOAD\n{self.amz_date}\n{self.scope}\n"
        full_hash = hashlib.sha256(self.data).hexdigest()
        prev, crc = self.seed, 0
        for i, n in enumerate(self.sizes):
            data = self.data if n == self.chunk else self.data[:n]
            h = full_hash if n == self.chunk else hashlib.sha256(data).hexdigest()
            prev = self._sig(f"{prefix}{prev}\n{EMPTY_SHA256}\n{h}")
            if self.tamper == i:  # signed as it was, sent changed
                data = bytes([data[0] ^ 1]) + data[1:]
            if self.trailer:
                crc = crt.crc32c(data, crc)
            yield f"{n:x};chunk-signature={prev}\r\n".encode(), data
        prev = self._sig(f"{prefix}{prev}\n{EMPTY_SHA256}\n{EMPTY_SHA256}")
        if not self.trailer:
            yield f"0;chunk-signature={prev}\r\n\r\n".encode(), b""
            return
        trailer = f"x-amz-checksum-crc32c:{base64.b64encode(crc.to_bytes(4, 'big')).decode()}\n"
        tsig = self._sig(
            f"AWS4-HMAC-SHA256-TRAILER\n{self.amz_date}\n{self.scope}\n{prev}\n"
            f"{hashlib.sha256(trailer.encode()).hexdigest()}"
        )
        yield (
            (
                f"0;chunk-signature={prev}\r\n{trailer.strip()}\r\n"
                f"x-amz-trailer-signature:{tsig}\r\n\r\n"
            ).encode(),
            b"",
        )

    def buffers(self) -> list[bytes]:
        """The whole body as a list of buffers for ``socket.sendmsg``: header lines, the
        shared data object and CRLFs (only the headers are new memory)."""
        out: list[bytes] = []
        for hdr, data in self.frames():
            out.append(hdr)
            if data:
                out += (data, CRLF)
        return out

    def pieces(self) -> Iterator[bytes]:
        """The body, one aws-chunked frame at a time."""
        for hdr, data in self.frames():
            yield hdr + data + CRLF if data else hdr
