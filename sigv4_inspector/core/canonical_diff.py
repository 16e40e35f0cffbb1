"""Comparing the server's echo with what was computed locally, part by part, beside
canonicalisation (:mod:`sigv4_inspector.core.canonical`): :func:`canonical_diff` for two
SigV4 canonical requests (method, URI, each query parameter, each header, signed headers,
payload), :func:`string_to_sign_diff` for two strings to sign (algorithm, date, each scope
component, hash). The server's canonical request comes from its error answer
(:mod:`sigv4_inspector.core.servererror`); the SERVER_CANONICAL_DIFF, HEADER_MODIFIED,
HOST_MISMATCH and URI/QUERY_ENCODING rules read the entries. Session tokens and
signatures in the values are redacted (:func:`sigv4_inspector.core.redact.redact_named`).
Bounded: at most :data:`MAX_DIFF` entries, the last counting the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NotRequired, TypedDict

from sigv4_inspector.core.redact import redact_named

__all__ = ["MAX_DIFF", "DiffEntry", "canonical_diff", "string_to_sign_diff"]


class DiffEntry(TypedDict):
    """One part that differs: ``part`` (``method``, ``uri``, ``query``, ``header``,
    ``signed_headers``, ``payload``, ``line``; for a string to sign ``algorithm``,
    ``date``, ``scope``, ``hash``; ``more`` for the count of entries left out), ``name``
    (the parameter, header, scope component or line number), and each side's value (None:
    that side lacks it)."""

    part: str
    name: str | None
    local: str | None
    server: str | None
    count: NotRequired[int]  # part "more": how many more parts differ


def _entry(part: str, name: str | None, local: str | None, server: str | None) -> DiffEntry:
    return {
        "part": part,
        "name": name,
        "local": redact_named(name, local),
        "server": redact_named(name, server),
    }


@dataclass
class _Canon:
    method: str
    uri: str
    query: str
    headers: dict[str, list[str]]
    signed_headers: str
    payload: str


def _split_canonical(creq: str) -> _Canon | None:
    lines = creq.split("\n")
    if len(lines) < 6 or lines[-3] != "":
        return None
    headers: dict[str, list[str]] = {}
    for line in lines[3:-3]:
        name, sep, value = line.partition(":")
        if not sep or not name:
            return None
        headers.setdefault(name, []).append(value)
    return _Canon(lines[0], lines[1], lines[2], headers, lines[-2], lines[-1])


def _query_pairs(query: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for pair in query.split("&") if query else []:
        key, _, value = pair.partition("=")
        out.setdefault(key, []).append(value)
    return out


def _union(a: Iterable[str], b: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for k in [*a, *b]:
        seen.setdefault(k, None)
    return list(seen)


#: Entries a diff keeps; the last then says how many more differ (an echo of 30,000
#: lines must not make a record of 30,000 entries).
MAX_DIFF = 40


def _bounded(out: list[DiffEntry], more: int) -> list[DiffEntry]:
    if more > 0:
        out.append({"part": "more", "name": None, "local": None, "server": None, "count": more})
    return out


def _line_diff(local: str, server: str) -> list[DiffEntry]:
    a, b = local.split("\n"), server.split("\n")
    out: list[DiffEntry] = []
    more = 0
    for i in range(max(len(a), len(b))):
        la = a[i] if i < len(a) else None
        lb = b[i] if i < len(b) else None
        if la != lb:
            if len(out) < MAX_DIFF:
                out.append(_entry("line", str(i + 1), la, lb))
            else:
                more += 1
    return _bounded(out, more)


def canonical_diff(local: str, server: str) -> list[DiffEntry]:
    """Compare two SigV4 canonical requests part by part.

    Entries are ``{"part", "name", "local", "server"}`` with ``part`` one of ``method``,
    ``uri``, ``query`` (``name`` = the parameter; one entry with ``name`` None when only
    the order or ``=`` spelling differs), ``header`` (``name`` = the header; None for a
    side that lacks it), ``signed_headers``, ``payload``; or ``line`` (``name`` = the
    1-based line number) when either string does not have the canonical shape. Session
    tokens and signatures in the values are shown redacted. ``[]`` when equal.
    """
    if local == server:
        return []
    a, b = _split_canonical(local), _split_canonical(server)
    if a is None or b is None:
        return _line_diff(local, server)
    out: list[DiffEntry] = []
    if a.method != b.method:
        out.append(_entry("method", None, a.method, b.method))
    if a.uri != b.uri:
        out.append(_entry("uri", None, a.uri, b.uri))
    if a.query != b.query:
        qa, qb = _query_pairs(a.query), _query_pairs(b.query)
        per_key = [
            _entry(
                "query",
                key,
                "&".join(qa[key]) if key in qa else None,
                "&".join(qb[key]) if key in qb else None,
            )
            for key in _union(qa, qb)
            if qa.get(key) != qb.get(key)
        ]
        out.extend(per_key or [_entry("query", None, a.query, b.query)])
    for name in sorted(_union(a.headers, b.headers)):
        va, vb = a.headers.get(name), b.headers.get(name)
        if va != vb:
            out.append(
                _entry(
                    "header",
                    name,
                    ",".join(va) if va is not None else None,
                    ",".join(vb) if vb is not None else None,
                )
            )
    if a.signed_headers != b.signed_headers:
        out.append(_entry("signed_headers", None, a.signed_headers, b.signed_headers))
    if a.payload != b.payload:
        out.append(_entry("payload", None, a.payload, b.payload))
    return _bounded(out[:MAX_DIFF], len(out) - MAX_DIFF)


_STS_PARTS = ("algorithm", "date", "scope", "hash")


def string_to_sign_diff(local: str, server: str) -> list[DiffEntry]:
    """Compare two strings to sign: ``algorithm``, ``date`` (x-amz-date), ``scope`` and
    ``hash`` (of the canonical request). A differing scope is reported per component
    (``name`` = ``date``/``region``/``service``/``terminator``; SigV4a scopes have no
    region) when both have the same shape; extra lines come as ``line`` entries."""
    if local == server:
        return []
    a, b = local.split("\n"), server.split("\n")
    out: list[DiffEntry] = []
    for i in range(max(len(a), len(b))):
        la = a[i] if i < len(a) else None
        lb = b[i] if i < len(b) else None
        if la == lb:
            continue
        if i >= len(_STS_PARTS):
            out.append(_entry("line", str(i + 1), la, lb))
            continue
        part = _STS_PARTS[i]
        if part == "scope" and la is not None and lb is not None:
            sa, sb = la.split("/"), lb.split("/")
            names = {
                4: ("date", "region", "service", "terminator"),
                3: ("date", "service", "terminator"),
            }.get(len(sa))
            if names is not None and len(sa) == len(sb):
                out.extend(
                    _entry("scope", n, x, y)
                    for n, x, y in zip(names, sa, sb, strict=True)
                    if x != y
                )
                continue
        out.append(_entry(part, None, la, lb))
    return out
