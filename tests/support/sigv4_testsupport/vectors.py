"""Loaders for AWS's public signing test suites in ../shared/vectors (read-only data), and
the S3 documentation examples as WireRequests (:data:`S3`, :data:`S3_KEYRING`,
:func:`s3_request`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigv4_inspector.core.model import Credential, DictKeyring, WireRequest
from sigv4_testsupport.paths import VECTORS


def parse_http(raw: bytes) -> WireRequest:
    """Parse the suites' request grammar: raw request target (may hold spaces and raw
    UTF-8), headers split at the first ':' and not trimmed, obs-fold continuation lines
    joined with their LF, optional blank line and body."""
    text = raw.decode("utf-8", "surrogateescape")
    head, sep, body = text.partition("\n\n")
    lines = head.split("\n")
    request_line = lines[0]
    method, _, rest = request_line.partition(" ")
    target = rest.rsplit(" HTTP/", 1)[0]
    headers: list[list[str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" and headers:
            headers[-1][1] += "\n" + line
            continue
        name, _, value = line.partition(":")
        headers.append([name, value])
    body_bytes = body.encode("utf-8", "surrogateescape") if sep else b""
    return WireRequest.build(method, target, [(k, v) for k, v in headers], body_bytes)


@dataclass
class CrtCase:
    name: str
    kind: str  # "v4" or "v4a"
    path: Path
    context: dict[str, Any]

    def read(self, name: str) -> bytes:
        return (self.path / name).read_bytes()

    def has(self, name: str) -> bool:
        return (self.path / name).exists()


def crt_cases(kind: str) -> list[CrtCase]:
    base = VECTORS / "aws-c-auth" / kind
    out = []
    for d in sorted(p for p in base.iterdir() if p.is_dir()):
        ctx = json.loads((d / "context.json").read_text())
        out.append(CrtCase(d.name, kind, d, ctx))
    return out


def botocore_cases() -> list[tuple[str, Path]]:
    base = VECTORS / "botocore-aws4_testsuite"
    out = []
    for req in sorted(base.rglob("*.req")):
        out.append((str(req.parent.relative_to(base)), req.with_suffix("")))
    return out


def s3_examples() -> dict[str, Any]:
    return json.loads((VECTORS / "s3-examples.json").read_text())  # type: ignore[no-any-return]


S3 = s3_examples()
S3_KEYRING = DictKeyring(
    [Credential(S3["credentials"]["access_key_id"], S3["credentials"]["secret_access_key"])]
)


def s3_request(ex: dict[str, Any], body_override: bytes | None = None) -> WireRequest:
    """One S3 documentation example as the request on the wire (``body_override`` replaces
    its body)."""
    exp = ex["expected"]
    headers = [tuple(h) for h in ex["headers"]]
    if ex["signature_type"] == "query":
        url = exp["presigned_url"]
        target = url.split(ex["host"], 1)[1]
        return WireRequest.build(ex["method"], target, headers, b"")
    signed = ";".join(sorted(h[0].lower() for h in headers))
    auth = exp.get("authorization") or (
        f"AWS4-HMAC-SHA256 Credential={S3['credentials']['access_key_id']}/{S3['credential_scope']},"
        f" SignedHeaders={signed}, Signature={exp['signature']}"
    )
    headers.append(("Authorization", auth))
    target = ex["raw_path"] + ("?" + ex["raw_query"] if ex.get("raw_query") else "")
    body = ex["body"]
    if body_override is not None:
        data = body_override
    elif "chunks" in body:
        data = b""
        for ch in body["chunks"]:
            data += f"{ch['size_hex']};chunk-signature={ch['signature']}\r\n".encode()
            data += b"a" * ch["size"]
            data += b"\r\n" if ch["size"] else b""
        if "trailer" in body:
            data += body["trailer"]["canonical_trailers"].replace("\n", "\r\n").encode()
            data += f"x-amz-trailer-signature:{body['trailer']['signature']}\r\n".encode()
        data += b"\r\n"
    else:
        data = body.get("text", "").encode()
    return WireRequest.build(ex["method"], target, headers, data)
