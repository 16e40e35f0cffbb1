"""S3's ``aws-chunked`` content encoding: the framing, and the chunk and trailer signatures.

Framing ([DOC-STREAM] Amazon S3 API Reference, "Signature Calculations for the Authorization
Header: Transferring Payload in Multiple Chunks" (sigv4-streaming) and "... Including
Trailing Headers" (sigv4-streaming-trailers))::

    <hex-size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n ... 0[;chunk-signature=<sig>]\\r\\n
    [<trailer-name>:<value>\\r\\n ...][x-amz-trailer-signature:<sig>\\r\\n]\\r\\n

Chunk string to sign ([DOC-STREAM]; [VEC] ``s3-examples.json`` examples 5 and 6, whose
seed, chunk and trailer signatures the tests recompute)::

    AWS4-HMAC-SHA256-PAYLOAD \\n <amz-date> \\n <scope> \\n <previous-signature> \\n
    <hex SHA-256 of ""> \\n <hex SHA-256 of the chunk data>

and for the trailer ``AWS4-HMAC-SHA256-TRAILER``, the same first four lines, then the hex
SHA-256 of the trailer lines as ``name:value\\n``. The first previous signature is the seed
(the request's own signature). SigV4a uses ``AWS4-ECDSA-P256-SHA256-PAYLOAD`` /
``-TRAILER``, its region-less scope, and ECDSA signatures right-padded with ``*`` to 144
characters; the padding is stripped before a signature is verified or chained (aws-c-auth's
``aws_trim_padded_sigv4a_signature``; no vector covers a SigV4a chunk, so this one rule
rests on the CRT's source, not on a published example).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from .sigv4 import EMPTY_SHA256, SIGV4A, hmac_hex, sigv4a_verify

#: Bounds on hostile framing.
MAX_LINE = 8192
MAX_TRAILERS = 64

SIGNED_STREAMING = frozenset(
    {
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER",
    }
)


@dataclass
class ChunkedBody:
    """A decoded aws-chunked body."""

    payload: bytes
    chunks: list[tuple[int, int, str | None]] = field(default_factory=list)  # (start, end, sig)
    trailers: list[tuple[str, str]] = field(default_factory=list)  # lower-cased names


def _line(data: bytes, pos: int) -> tuple[bytes, int]:
    eol = data.find(b"\r\n", pos, pos + MAX_LINE + 2)
    if eol < 0:
        raise ValueError("aws-chunked: missing or over-long line")
    return data[pos:eol], eol + 2


def parse_aws_chunked(data: bytes) -> ChunkedBody:
    """Undo the framing. Raises ValueError on malformed framing."""
    pos = 0
    out = bytearray()
    body = ChunkedBody(b"")
    while True:
        header, pos = _line(data, pos)
        size_s, _, ext = header.decode("latin-1").partition(";")
        size_s = size_s.strip()
        if not size_s or any(c not in "0123456789abcdefABCDEF" for c in size_s):
            raise ValueError("aws-chunked: chunk header without a hex size")
        size = int(size_s, 16)
        sig = None
        for item in ext.split(";") if ext else ():
            k, _, v = item.partition("=")
            if k.strip() == "chunk-signature":
                sig = v.strip()
        start = len(out)
        if size == 0:
            body.chunks.append((start, start, sig))
            break
        chunk = data[pos : pos + size]
        if len(chunk) != size or data[pos + size : pos + size + 2] != b"\r\n":
            raise ValueError("aws-chunked: truncated chunk")
        out += chunk
        body.chunks.append((start, start + size, sig))
        pos += size + 2
    while pos < len(data):
        line, pos = _line(data, pos) if b"\r\n" in data[pos:] else (data[pos:], len(data))
        if not line:
            break
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or len(body.trailers) >= MAX_TRAILERS:
            raise ValueError("aws-chunked: malformed trailer")
        body.trailers.append((name.strip().lower(), value.strip()))
    body.payload = bytes(out)
    return body


def decode_aws_chunked(data: bytes) -> tuple[bytes, list[tuple[str, str]]]:
    """Undo ``aws-chunked`` framing: return (payload, trailers). Raises ValueError."""
    body = parse_aws_chunked(data)
    return body.payload, body.trailers


def chunk_string_to_sign(
    algorithm: str, amz_date: str, scope: str, previous: str, chunk: bytes
) -> str:
    """[DOC-STREAM] the string to sign of one chunk."""
    return "\n".join(
        [
            f"{algorithm}-PAYLOAD",
            amz_date,
            scope,
            previous.rstrip("*"),
            EMPTY_SHA256,
            hashlib.sha256(chunk).hexdigest(),
        ]
    )


def trailer_string_to_sign(
    algorithm: str, amz_date: str, scope: str, previous: str, trailers: list[tuple[str, str]]
) -> str:
    """[DOC-STREAM] trailers: the string to sign of the trailing headers."""
    canonical = "".join(f"{n}:{v}\n" for n, v in trailers if n != "x-amz-trailer-signature")
    digest = hashlib.sha256(canonical.encode("latin-1", "replace")).hexdigest()
    return "\n".join([f"{algorithm}-TRAILER", amz_date, scope, previous.rstrip("*"), digest])


@dataclass
class StreamCheck:
    """The outcome of checking a signed stream: ``problem`` is None when it verifies;
    ``incomplete`` tells a framing fault (S3 IncompleteBody) from a wrong signature."""

    problem: str | None = None
    incomplete: bool = False
    string_to_sign: str = ""


def verify_stream(
    body: ChunkedBody,
    *,
    mode: str,
    amz_date: str,
    scope: str,
    seed: str,
    hmac_key: bytes | None = None,
    public_key: ec.EllipticCurvePublicKey | None = None,
) -> StreamCheck:
    """Check every chunk signature (and the trailer signature for ``-TRAILER`` modes) of a
    signed stream, chained from ``seed``."""
    if mode not in SIGNED_STREAMING:
        return StreamCheck()
    algorithm = SIGV4A if "ECDSA" in mode else "AWS4-HMAC-SHA256"

    def good(text: str, sig: str) -> bool:
        if public_key is not None:
            return sigv4a_verify(public_key, text, sig)
        assert hmac_key is not None
        return hmac.compare_digest(hmac_hex(hmac_key, text), sig)

    previous = seed
    for index, (start, end, sig) in enumerate(body.chunks):
        if not sig:
            # versity/versitygw#1685 records S3 answering a missing chunk-signature with
            # IncompleteBody.
            return StreamCheck(f"chunk {index} has no chunk-signature", incomplete=True)
        sts = chunk_string_to_sign(algorithm, amz_date, scope, previous, body.payload[start:end])
        if not good(sts, sig.rstrip("*")):
            return StreamCheck(f"chunk {index} signature does not match", string_to_sign=sts)
        previous = sig
    if mode.endswith("-TRAILER"):
        trailer_sig = next((v for n, v in body.trailers if n == "x-amz-trailer-signature"), None)
        if not trailer_sig:
            return StreamCheck("no x-amz-trailer-signature", incomplete=True)
        sts = trailer_string_to_sign(algorithm, amz_date, scope, previous, body.trailers)
        if not good(sts, trailer_sig.rstrip("*")):
            return StreamCheck("trailer signature does not match", string_to_sign=sts)
    return StreamCheck()
