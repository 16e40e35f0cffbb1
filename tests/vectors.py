"""Loaders for AWS's public signing test suites in ../shared/vectors (read-only data)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import VECTORS
from sigv4_inspector.core.model import WireRequest


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
