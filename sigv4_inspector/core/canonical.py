"""SigV4 canonicalisation: one function per step of AWS's published algorithm.

``canonical_uri``, ``canonical_query``, ``canonical_headers``, ``signed_headers_line``,
``canonical_request`` and ``string_to_sign`` build exactly the strings AWS signs, from a
request as it was on the wire. Variants that real signers produce (pure-Python botocore's
raw query pairs, ``+`` read as a space) are selectable so the verifier can say which one a
signature matches.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Literal

from sigv4_inspector.core.model import HeaderIndex, header_index

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

# Services whose canonical URI is the path exactly as sent (encoded once, never normalised).
S3_SERVICES = frozenset({"s3", "s3-object-lambda", "s3-outposts", "s3express"})

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_ENC_TABLE = [chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in range(256)]
# the common case, tested at C speed: nothing to encode
_NOTHING_TO_ENCODE = re.compile(rb"[A-Za-z0-9_.~-]*").fullmatch
_NOTHING_TO_ENCODE_BUT_SLASHES = re.compile(rb"[A-Za-z0-9_.~/-]*").fullmatch


def _nothing_to_encode(data: bytes, keep_slash: bool) -> bool:
    return bool((_NOTHING_TO_ENCODE_BUT_SLASHES if keep_slash else _NOTHING_TO_ENCODE)(data))


QueryMode = Literal["aws", "raw", "plus-space"]


def _to_bytes(s: str) -> bytes:
    # surrogateescape keeps raw non-UTF-8 bytes that were decoded with it intact.
    return s.encode("utf-8", "surrogateescape")


def uri_encode(value: str | bytes, *, keep_slash: bool = False) -> str:
    """Percent-encode every byte outside the unreserved set (uppercase hex)."""
    data = _to_bytes(value) if isinstance(value, str) else value
    if _nothing_to_encode(data, keep_slash):
        return data.decode("ascii")
    if keep_slash:
        return "".join("/" if b == 0x2F else _ENC_TABLE[b] for b in data)
    return "".join(_ENC_TABLE[b] for b in data)


def uri_encode_keep_escapes(value: str, *, keep_slash: bool = True) -> str:
    """Encode once, leaving existing ``%XX`` escapes alone (S3: the path as sent)."""
    data = _to_bytes(value)
    if _nothing_to_encode(data, keep_slash):
        return value
    out: list[str] = []
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == 0x25 and i + 2 < n and data[i + 1] in _HEX and data[i + 2] in _HEX:
            out.append(data[i : i + 3].decode("ascii").upper())
            i += 3
            continue
        out.append("/" if (b == 0x2F and keep_slash) else _ENC_TABLE[b])
        i += 1
    return "".join(out)


def percent_decode(value: str, *, plus_is_space: bool = False) -> bytes:
    """Decode ``%XX`` escapes into bytes; malformed escapes stay literal."""
    data = _to_bytes(value)
    if plus_is_space:
        data = data.replace(b"+", b" ")
    if b"%" not in data:
        return data
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == 0x25 and i + 2 < n and data[i + 1] in _HEX and data[i + 2] in _HEX:
            out.append(int(data[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(b)
            i += 1
    return bytes(out)


def normalize_path(path: str) -> str:
    """RFC 3986 remove-dot-segments plus collapsing of empty segments, as AWS services
    other than S3 do (botocore ``remove_dot_segments``)."""
    if not path:
        return "/"
    output: list[str] = []
    for seg in path.split("/"):
        if not seg or seg == ".":
            continue
        if seg == "..":
            if output:
                output.pop()
        else:
            output.append(seg)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and output else ""
    return first + "/".join(output) + last


_PLAIN_PATH = re.compile(r"/[A-Za-z0-9\-_.~/]*")


def is_plain_path(path: str) -> bool:
    """A path every canonical form leaves as it is (S3's and the other services', encoded
    once or twice, normalised or not): unreserved characters and single slashes, no dot
    segment. The forensic search and the signer forms skip path variants for it."""
    return _PLAIN_PATH.fullmatch(path) is not None and "//" not in path and "/." not in path


def canonical_uri(path: str, *, normalize: bool, double_encode: bool) -> str:
    """The canonical URI line.

    S3 (``normalize=False, double_encode=False``): the path exactly as sent, with only the
    bytes that cannot appear raw encoded. Other services (``True, True``): normalise dot
    segments and repeated slashes, then encode every segment again (``%`` becomes ``%25``).
    """
    if not path:
        path = "/"
    if normalize:
        path = normalize_path(path)
    if double_encode:
        return uri_encode(path, keep_slash=True)
    return uri_encode_keep_escapes(path, keep_slash=True)


def split_query(raw_query: str) -> list[tuple[str, str | None]]:
    """Split a raw query into (name, value) pairs; ``None`` marks a pair without ``=``."""
    if not raw_query:
        return []
    pairs: list[tuple[str, str | None]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, eq, value = part.partition("=")
        pairs.append((name, value if eq else None))
    return pairs


def canonical_query(
    pairs: Iterable[tuple[str, str | None]],
    *,
    mode: QueryMode = "aws",
    exclude: Sequence[str] = (),
) -> str:
    """The canonical query line from raw (still percent-encoded) pairs.

    ``aws``: decode each name and value, re-encode with the unreserved set (``+`` is a
    literal plus), sort by name then value, ``name=`` for empty values (what AWS and the
    CRT signer do). ``raw``: keep the pairs as sent and sort them (pure-Python botocore).
    ``plus-space``: like ``aws`` but ``+`` decodes to a space (form-encoded clients).
    ``exclude`` names parameters to drop (``X-Amz-Signature`` for presigned requests).
    """
    items: list[tuple[str, str]] = []
    for name, value in pairs:
        if name in exclude:
            continue
        v = value or ""
        if mode == "raw":
            items.append((name, v))
        else:
            plus = mode == "plus-space"
            items.append(
                (
                    uri_encode(percent_decode(name, plus_is_space=plus)),
                    uri_encode(percent_decode(v, plus_is_space=plus)),
                )
            )
    items.sort()
    return "&".join(f"{k}={v}" for k, v in items)


def canonical_header_value(value: str) -> str:
    """Trim, unfold obs-fold continuations and collapse whitespace runs to one space."""
    return " ".join(value.split())


def canonical_headers(
    headers: Sequence[tuple[str, str]],
    signed: Sequence[str],
    *,
    index: HeaderIndex | None = None,
) -> tuple[str, list[str]]:
    """The canonical headers block (each ``name:value\\n``) for the signed header names.

    Repeated headers are joined with ``,`` in the order they were sent. Returns the block
    and the list of signed names absent from ``headers``. ``index``: the headers' index
    when the caller has it already (a request's own).
    """
    if index is None:
        index = header_index(headers)  # a header sent once is a string: no list per header
    missing = [h for h in signed if h not in index]
    lines = []
    for h in sorted(dict.fromkeys(signed)):
        got = index.get(h)
        if got is None:
            value = ""
        elif isinstance(got, str):
            value = canonical_header_value(got)
        else:  # sent more than once: joined with ',' in the order sent
            value = ",".join(map(canonical_header_value, got))
        lines.append(f"{h}:{value}\n")
    return "".join(lines), missing


def signed_headers_line(signed: Sequence[str]) -> str:
    return ";".join(sorted(signed))


def canonical_request(
    method: str,
    uri: str,
    query: str,
    headers_block: str,
    signed: Sequence[str],
    payload_hash: str,
) -> str:
    """``METHOD\\nURI\\nQUERY\\nHEADERS\\nSIGNEDHEADERS\\nPAYLOAD`` (headers end in LF)."""
    return "\n".join([method, uri, query, headers_block, signed_headers_line(signed), payload_hash])


def hash_hex(data: str | bytes) -> str:
    if isinstance(data, str):
        data = _to_bytes(data)
    return hashlib.sha256(data).hexdigest()


def string_to_sign(algorithm: str, amz_date: str, scope: str, creq: str) -> str:
    """``ALGORITHM\\nDATE\\nSCOPE\\nhex(SHA-256(canonical request))``."""
    return f"{algorithm}\n{amz_date}\n{scope}\n{hash_hex(creq)}"
