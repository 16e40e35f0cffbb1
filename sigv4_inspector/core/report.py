"""The report contract of report.md: the JSON record of one flow, its one-line comment and
its marker. No signature or token is ever written out: URLs and canonical requests pass
:mod:`sigv4_inspector.core.redact`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sigv4_inspector.core.model import Finding, Verification, fingerprint
from sigv4_inspector.core.redact import hide_token, redact_url
from sigv4_inspector.core.tokens import redact_token


def marker_for(findings: list[Finding], verdict: str) -> str:
    """``:x:`` when any error, ``:warning:`` when only warnings, else unmarked."""
    sev = {f.severity for f in findings}
    if "error" in sev or verdict == "invalid":
        return ":x:"
    if "warning" in sev:
        return ":warning:"
    return ""


_SCHEME_NAME = {"sigv4": "SigV4", "sigv4a": "SigV4a", "sigv2": "SigV2", "none": "Unsigned"}


SCHEMA = 2  # report.md: the record format's version, raised on any incompatible change


MAX_COMMENT = 400  # characters of the one-line comment (mitmweb's column shows its start)


def _one_line(text: str, limit: int) -> str:
    """``text`` on one line (whitespace runs collapsed), cut to ``limit`` with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: max(limit - 1, 0)].rstrip() + "\u2026"


def comment_for(v: Verification, findings: list[Finding], headline: Finding | None) -> str:
    """One line a person understands, code and fix first (mitmweb's comment column shows
    the start of it): ``CODE -> fix | message [SigV4 invalid, +N more]``. Bounded to
    :data:`MAX_COMMENT` characters: the state in brackets always stays, the message is cut
    first, then the fix."""
    state = f"{_SCHEME_NAME.get(v.auth.scheme, v.auth.scheme)} {v.verdict}"
    if headline is None:
        return state
    more = sum(1 for f in findings if f is not headline and f.severity != "info")
    tail = f" [{state}" + (f", +{more} more]" if more else "]")
    room = MAX_COMMENT - len(tail) - len(headline.code)
    fix = _one_line(headline.fix, max(room * 3 // 5, 40)) if headline.fix else ""
    head = headline.code + (f" -> {fix}" if fix else "")
    msg = _one_line(headline.message, max(MAX_COMMENT - len(tail) - len(head) - 3, 20))
    return _one_line(f"{head} | {msg}" if msg else head, MAX_COMMENT - len(tail)) + tail


def iso_utc(when: datetime) -> str:
    """ISO 8601 UTC with a Z suffix (naive datetimes are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _clean(obj: Any) -> Any:
    """Make every string valid UTF-8: raw non-UTF-8 bytes from the wire (carried as
    surrogate escapes) become visible ``\\xNN`` text, so the record can be written as JSON
    and saved in flow files."""
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
            return obj
        except UnicodeEncodeError:
            return obj.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def _encode(record: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The record made JSON-safe and its JSON text (one line, ASCII), encoded once."""
    text = json.dumps(record, ensure_ascii=True)
    # one C-speed pass: lone surrogates only appear as "\\udcXX" escapes in ASCII JSON
    if "\\udc" in text:
        record = _clean(record)
        text = json.dumps(record, ensure_ascii=True)
    return record, text


def build_record(**fields: Any) -> dict[str, Any]:
    """The JSON record of report.md (see :func:`build_record_line`)."""
    return build_record_line(**fields)[0]


MAX_POLICY_SHOWN = 8192  # characters of a POST upload's base64 policy in string_to_sign


def form_string_to_sign(v: Verification) -> str | None:
    """An S3 POST upload's string to sign as the record shows it: the base64 policy as sent
    (cut after MAX_POLICY_SHOWN characters, its length kept), or, when the form uses a
    session token, a placeholder: the policy then names the token in a condition, and
    base64 is no redaction."""
    sts = v.string_to_sign
    up = v.post_upload
    if sts is None or up is None:
        return sts
    tokens = up.tokens()
    if tokens:
        token = tokens[0]
        return (
            f"[the base64 policy as sent: {len(sts)} characters, {fingerprint(sts)}; not "
            f"shown, since it holds the session token {redact_token(token)}; its conditions "
            "are in the findings' evidence]"
        )
    if len(sts) > MAX_POLICY_SHOWN:
        return sts[:MAX_POLICY_SHOWN] + f"... [{len(sts)} characters]"
    return sts


def build_record_line(
    *,
    flow_id: str,
    seen_at: datetime,
    method: str,
    url: str,
    v: Verification,
    findings: list[Finding],
    response: dict[str, Any] | None,
    headline: Finding | None = None,
) -> tuple[dict[str, Any], str]:
    """The JSON record of report.md (field names and order as documented) and its JSON
    line, ready for the report."""
    auth = v.auth.as_dict()
    creq = v.canonical_request
    if v.auth.session_token:
        token = v.auth.session_token
        auth["session_token"] = redact_token(token)
        if creq:
            creq = hide_token(creq, token)
    if v.variant:
        auth["matched_variant"] = v.variant
    signed = auth.get("signed_headers")
    if signed and len(signed) > 200:  # 20,000 signed headers: the record names a few
        auth["signed_headers"] = [*signed[:200], f"... {len(signed) - 200} more"]
    sts = form_string_to_sign(v) if v.auth.location == "form" else v.string_to_sign
    record, line = _encode(
        {
            "schema": SCHEMA,
            "flow_id": flow_id,
            "time": iso_utc(seen_at),
            "method": method,
            "url": redact_url(url),
            "auth": auth,
            "verdict": v.verdict,
            "credential_source": v.credential_source,
            "canonical_request": creq,
            "string_to_sign": sts,
            "headline": headline.as_dict_short() if headline is not None else None,
            "findings": [f.as_dict() for f in findings],
            "response": response,
        }
    )
    if len(line) > MAX_RECORD_BYTES:
        record, line = _fit(record)
    return record, line


#: report.md: "A whole record stays under 64 KiB, whatever the request or the echo."
MAX_RECORD_BYTES = 60 << 10


def _cut_text(value: Any, limit: int) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"... [{len(value)} characters]"
    return value


def _shrink(value: Any, limit: int, items: int, depth: int = 0) -> Any:
    if isinstance(value, str):
        return _cut_text(value, limit)
    if isinstance(value, dict):
        keys = list(value)[:items]
        out = {k: _shrink(value[k], limit, items, depth + 1) for k in keys}
        if len(value) > items:
            out["_truncated"] = f"{len(value) - items} more entries"
        return out if depth < 4 else f"[{len(value)} entries]"
    if isinstance(value, list):
        seq = [_shrink(x, limit, items, depth + 1) for x in value[:items]]
        if len(value) > items:
            seq.append(f"... {len(value) - items} more")
        return seq if depth < 4 else f"[{len(value)} entries]"
    return value


def _fit(record: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Shrink a record that is too big, step by step, until its line fits (lengths kept)."""
    for limit, items in ((4096, 16), (1024, 8), (256, 4), (64, 2)):
        rec = dict(record)
        for key in ("canonical_request", "string_to_sign", "url"):
            rec[key] = _cut_text(rec[key], limit * 4)
        rec["auth"] = _shrink(rec["auth"], limit, items * 4)
        rec["response"] = _shrink(rec["response"], limit, items)
        rec["findings"] = [
            {
                **f,
                "message": _cut_text(f["message"], max(limit, 300)),
                "fix": _cut_text(f["fix"], max(limit, 300)),
                "evidence": _shrink(f["evidence"], limit, items),
            }
            for f in rec["findings"]
        ]
        if rec["headline"] is not None:
            rec["headline"] = {k: _cut_text(v, max(limit, 300)) for k, v in rec["headline"].items()}
        rec, line = _encode(rec)
        if len(line) <= MAX_RECORD_BYTES:
            return rec, line
    rec["findings"] = [
        {**f, "evidence": {"_cut": "removed to keep the record small"}} for f in rec["findings"]
    ]
    return _encode(rec)
