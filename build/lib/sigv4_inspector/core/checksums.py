"""Flexible checksums (``x-amz-checksum-*``): incremental computation and comparison.

CRC32C and CRC64NVME come from awscrt (hardware-accelerated), SHA-1/SHA-256 from hashlib;
CRC32 from zlib for the first MiB of a body and from awscrt after that (8x faster here on
big bodies). awscrt is imported on first use: loading it seeds aws-lc's entropy pool, about
0.5 G instructions (0.2 s), which most sessions (small bodies, CRC32 or no checksum) never
need. The values are base64 of the big-endian digest, as S3 sends them in headers and
trailers.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable
from typing import Any

ALGORITHMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
HEADER_PREFIX = "x-amz-checksum-"
CRT_CRC32_FROM = 1 << 20  # bytes of a body after which CRC32 moves from zlib to awscrt


class ChecksumUnavailable(Exception):
    """The algorithm needs a module that is not installed (awscrt for CRC32C/CRC64NVME)."""

    def __init__(self, algorithm: str, module: str) -> None:
        super().__init__(f"{algorithm} needs {module}")
        self.algorithm = algorithm
        self.module = module


def _crt(algorithm: str) -> Any:
    """awscrt's checksums module, imported on first use (see the module docstring)."""
    try:
        from awscrt import checksums
    except ImportError as exc:
        raise ChecksumUnavailable(algorithm, "awscrt") from exc
    return checksums


class Checksum:
    """One running checksum; ``update`` with body bytes, ``b64`` for the result."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm.lower()
        self._crc = 0
        self._hash: Any = None
        self._crc_fn: Callable[[Any, int], int] | None = None
        self._width = 4
        self._seen = 0  # CRC32 only: bytes so far, to move to awscrt on big bodies
        if self.algorithm == "crc32":
            self._crc_fn = zlib.crc32  # the same CRC-32 as awscrt's, running value and all
        elif self.algorithm == "crc32c":
            self._crc_fn = _crt(self.algorithm).crc32c
        elif self.algorithm == "crc64nvme":
            self._crc_fn = _crt(self.algorithm).crc64nvme
            self._width = 8
        elif self.algorithm in ("sha1", "sha256"):
            self._hash = hashlib.new(self.algorithm)
        else:
            raise ValueError(f"unknown checksum algorithm {algorithm!r}")

    def update(self, data: bytes | memoryview) -> None:
        if self._crc_fn is zlib.crc32:
            self._seen += len(data)
            if self._seen > CRT_CRC32_FROM:
                try:
                    self._crc_fn = _crt("crc32").crc32  # hardware-accelerated; 8x zlib here
                except ChecksumUnavailable:
                    self._seen = -(1 << 62)  # no awscrt: stay with zlib
        if self._crc_fn is not None:
            self._crc = self._crc_fn(data, self._crc)
        else:
            self._hash.update(data)

    def digest(self) -> bytes:
        if self._crc_fn is not None:
            return self._crc.to_bytes(self._width, "big")
        return bytes(self._hash.digest())

    def b64(self) -> str:
        return base64.b64encode(self.digest()).decode()


def algorithm_of(header_name: str) -> str | None:
    """``x-amz-checksum-crc32c`` -> ``crc32c``; None for other names (or ``-type``)."""
    if len(header_name) < 16 or header_name.lstrip()[:1] not in ("x", "X"):
        return None  # most headers, decided without lower-casing
    name = header_name.strip().lower()
    if not name.startswith(HEADER_PREFIX):
        return None
    algo = name[len(HEADER_PREFIX) :]
    return algo if algo in ALGORITHMS else None


def compute(algorithm: str, data: bytes) -> str:
    c = Checksum(algorithm)
    c.update(data)
    return c.b64()
