"""Human-readable breakdown of one record: what `sigv4.explain` prints and what the
"AWS Signature" content view shows. For an S3 POST upload it shows the decoded policy:
each condition marked ✓ (met), ✗ (failed) or ? (not decided here) against the value the
form sent, from the record's evidence (rules.unsigned_payload)."""

from __future__ import annotations

from typing import Any

MARK = {"ok": "✓", "failed": "✗", "malformed": "✗", "not-applicable": "?"}


def _policy_evidence(rec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(policy, the finding's evidence) of a POST upload's record, when it has them."""
    for f in rec.get("findings") or []:
        ev = f.get("evidence") if isinstance(f, dict) else None
        if isinstance(ev, dict) and isinstance(ev.get("policy"), dict):
            return ev["policy"], ev
    return None


def _post_lines(rec: dict[str, Any]) -> list[str]:
    found = _policy_evidence(rec)
    if found is None:
        return []
    policy, ev = found
    expired = policy.get("expired")
    state = "expired" if expired is True else "not expired" if expired is False else "unreadable"
    lines = [
        "",
        "POST policy (decoded):",
        f"  expiration {policy.get('expiration') or '-'}: {state} at the request time "
        f"{policy.get('request_time')}",
    ]
    conditions = policy.get("conditions") or []
    width = min(60, max((len(str(c.get("condition"))) for c in conditions), default=0))
    for c in conditions:
        if not isinstance(c, dict):
            continue
        mark = MARK.get(str(c.get("outcome")), "?")
        cond = str(c.get("condition"))
        if c.get("field") is not None:
            sent = c.get("value_sent")
            value = f"{c['field']} = {sent!r}" if sent is not None else f"no {c['field']} field"
        else:
            value = f"file size {c.get('value_sent')}" if c.get("value_sent") else ""
        lines.append(f"  {mark} {cond.ljust(width)}  {value}".rstrip())
        if c.get("outcome") != "ok" and c.get("reason"):
            lines.append(f"      {c['reason']}")
    total = policy.get("conditions_total") or 0
    if total > len(conditions):
        lines.append(f"  ... {total - len(conditions)} more condition(s) not shown")
    for name in policy.get("extra_fields") or []:
        lines.append(f"  ✗ extra field {name}: no condition covers it")
    for name in policy.get("missing_fields") or []:
        lines.append(f"  ✗ missing field {name}")
    for problem in policy.get("problems") or []:
        lines.append(f"  ✗ {problem}")
    ignored = policy.get("ignored_fields") or []
    if ignored:
        lines.append(f"  fields after the file (S3 ignores them): {', '.join(map(str, ignored))}")
    file = ev.get("file")
    if isinstance(file, dict):
        lines.append(
            f"  file: {file.get('filename')!r}, {file.get('content_type') or '-'}, "
            f"{file.get('size')} bytes (not signed)"
        )
    return lines


def explain_record(rec: dict[str, Any]) -> str:
    auth = rec.get("auth") or {}
    scope = auth.get("scope") or {}
    form = auth.get("location") == "form"
    lines = [
        f"Verdict:        {rec.get('verdict')}",
        f"Request:        {rec.get('method')} {rec.get('url')}",
        f"Scheme:         {auth.get('scheme')} ({auth.get('location')})",
        f"Access key:     {auth.get('access_key_id')}  (secret from: {rec.get('credential_source')})",
        f"Scope:          {' / '.join(str(v) for v in scope.values()) if scope else '-'}",
    ]
    if form:
        lines.append("Signed:         the base64 policy (the form's 'policy' field) as sent")
    else:
        lines += [
            f"Signed headers: {';'.join(auth.get('signed_headers') or []) or '-'}",
            f"Payload:        {auth.get('payload')}",
        ]
    if auth.get("session_token"):
        lines.append(f"Session token:  {auth['session_token']}")
    if auth.get("matched_variant"):
        lines.append(f"Matched as:     {auth['matched_variant']}")
    resp = rec.get("response")
    if resp:
        lines.append(
            f"Response:       {resp.get('status')} {resp.get('aws_error_code') or ''}".rstrip()
        )
    lines += _post_lines(rec)
    findings = rec.get("findings") or []
    lines.append("")
    lines.append("Findings:" if findings else "Findings:       none")
    for f in findings:
        lines.append(f"  [{f['severity']}] {f['code']}: {f['message']}")
        if f.get("fix"):
            lines.append(f"      fix: {f['fix']}")
    for title, key in (
        ("Canonical request", "canonical_request"),
        ("String to sign", "string_to_sign"),
    ):
        val = rec.get(key)
        if val:
            lines += ["", f"{title}:", "-" * 40, val, "-" * 40]
    return "\n".join(lines)
