"""The final pass over a flow's findings: most specific cause first, one cause per fact.

Rules say what they see (:mod:`sigv4_inspector.core.rules`); this pass alone decides what a person
reads first (report.md, "Order of findings and the headline"):

- sort by severity, then by the rank of :mod:`sigv4_inspector.core.codes`; a cause the server's own
  answer confirms comes before the other causes of its rank;
- drop what a more specific finding already says: the bare SIGNATURE_MISMATCH when a
  cause is named; CHANGED_AFTER_PROXY when the change is seen inside the proxy (or in the
  server's echo); an after-proxy or inferred finding about a part the proxy itself changed;
  exact repeats;
- a flow read from a HAR file whose bytes were lost leads with INPUT_LOST_BYTES, since it
  explains the mismatches after it;
- at most :data:`MAX_FINDINGS`, the last one FINDINGS_TRUNCATED saying how many were left
  out; each evidence value bounded (long values cut, their length kept).

The headline is the first finding, or None when there is nothing worth a person's
attention (only UNSIGNED_PAYLOAD).
"""

from __future__ import annotations

from typing import Any

from sigv4_inspector.core.codes import SEVERITY_ORDER, Code, rank
from sigv4_inspector.core.model import Finding

MAX_FINDINGS = 50
MAX_EVIDENCE_STR = 2048  # characters of one evidence string
MAX_EVIDENCE_ITEMS = 32  # entries of one evidence list or dict
MAX_EVIDENCE_DEPTH = 4
MAX_MESSAGE = 1000

_PLACED = ("in-proxy",)
_PART_OF = {
    Code.HEADER_MODIFIED: "header",
    Code.HOST_MISMATCH: "host",
    Code.URI_ENCODING: "path",
    Code.QUERY_ENCODING: "query",
    Code.PAYLOAD_HASH_MISMATCH: "body",
}
# causes that say why a signature does not match (a wrong clock or scope does not)
_EXPLAINS_MISMATCH = {
    Code.SIGNED_HEADER_MISSING,
    Code.HEADER_MODIFIED,
    Code.HOST_MISMATCH,
    Code.URI_ENCODING,
    Code.QUERY_ENCODING,
    Code.PAYLOAD_HASH_MISMATCH,
    Code.CHUNK_SIGNATURE_MISMATCH,
    Code.SECRET_MISMATCH,
    Code.SERVER_CANONICAL_DIFF,
    Code.MALFORMED_AUTHORIZATION,
}
_BODY_CODES = {
    Code.PAYLOAD_HASH_MISMATCH,
    Code.SIGNATURE_MISMATCH,
    Code.CHECKSUM_MISMATCH,
    Code.CHUNK_SIGNATURE_MISMATCH,
}


def _key(f: Finding) -> tuple[int, int, int, int]:
    r = rank(f.code)
    confirmed = 0 if f.evidence.get("server_confirms") else 1
    return (SEVERITY_ORDER.get(f.severity, 3), r[0], confirmed, r[1])


def _bound(value: Any, depth: int = 0) -> Any:
    """A JSON-like value cut to bounded size; a cut string keeps its length."""
    if isinstance(value, str):
        if len(value) <= MAX_EVIDENCE_STR:
            return value
        return value[:MAX_EVIDENCE_STR] + f"... [{len(value)} characters]"
    if depth >= MAX_EVIDENCE_DEPTH and isinstance(value, dict | list | tuple):
        return f"[{type(value).__name__} of {len(value)} entries]"
    if isinstance(value, dict):
        items = list(value.items())
        out = {str(k)[:128]: _bound(v, depth + 1) for k, v in items[:MAX_EVIDENCE_ITEMS]}
        if len(items) > MAX_EVIDENCE_ITEMS:
            out["_truncated"] = f"{len(items) - MAX_EVIDENCE_ITEMS} more entries"
        return out
    if isinstance(value, list | tuple):
        seq = [_bound(v, depth + 1) for v in list(value)[:MAX_EVIDENCE_ITEMS]]
        if len(value) > MAX_EVIDENCE_ITEMS:
            seq.append(f"... {len(value) - MAX_EVIDENCE_ITEMS} more")
        return seq
    return value


def _bounded(f: Finding) -> Finding:
    msg = f.message if len(f.message) <= MAX_MESSAGE else f.message[:MAX_MESSAGE] + "..."
    fix = f.fix if len(f.fix) <= MAX_MESSAGE else f.fix[:MAX_MESSAGE] + "..."
    return Finding(f.code, f.severity, msg, fix, _bound(f.evidence))


def _part(f: Finding) -> tuple[str, str | None] | None:
    """(part, header name) a finding places a change in, for the parts the proxy can see."""
    part = _PART_OF.get(f.code)  # type: ignore[call-overload]
    if part is None:
        return None
    return (part, f.evidence.get("header") if part == "header" else None)


def _in_proxy_parts(findings: list[Finding]) -> set[tuple[str, str | None]]:
    """The parts the proxy itself changed (errors only: a harmless reorder places nothing)."""
    return {
        p
        for f in findings
        if f.evidence.get("where") in _PLACED
        and f.severity == "error"
        and (p := _part(f)) is not None
    }


def _redundant(f: Finding, findings: list[Finding], placed: set[tuple[str, str | None]]) -> bool:
    if f.code == Code.SIGNATURE_MISMATCH:
        return any(g.code in _EXPLAINS_MISMATCH and g.severity == "error" for g in findings)
    if f.code == Code.CHANGED_AFTER_PROXY:
        return bool(placed) or any(g.code == Code.SERVER_CANONICAL_DIFF for g in findings)
    if f.evidence.get("where") in ("after-proxy", "inferred"):
        return _part(f) in placed
    return False


def finalize(findings: list[Finding]) -> tuple[list[Finding], Finding | None]:
    """The findings in report order, redundancies dropped and bounded, and the headline."""
    seen: set[tuple[str, str]] = set()
    unique: list[Finding] = []
    for f in findings:
        k = (f.code, f.message)
        if k not in seen:
            seen.add(k)
            unique.append(f)
    placed = _in_proxy_parts(unique)
    kept = [f for f in unique if not _redundant(f, unique, placed)]
    kept.sort(key=_key)
    lost = next((f for f in kept if f.code == Code.INPUT_LOST_BYTES), None)
    if lost is not None and any(f.code in _BODY_CODES for f in kept):
        kept.remove(lost)
        kept.insert(0, lost)
    if len(kept) > MAX_FINDINGS:
        left_out = len(kept) - (MAX_FINDINGS - 1)
        kept = kept[: MAX_FINDINGS - 1]
        kept.append(
            Finding(
                str(Code.FINDINGS_TRUNCATED),
                "info",
                f"{left_out} more finding(s) were left out (at most {MAX_FINDINGS} per record).",
                "",
                {"left_out": left_out},
            )
        )
    kept = [_bounded(f) for f in kept]
    headline = kept[0] if kept and kept[0].code != Code.UNSIGNED_PAYLOAD else None
    return kept, headline
