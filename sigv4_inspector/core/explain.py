"""Human-readable breakdown of one record: what `sigv4.explain` prints and what the
"AWS Signature" content view shows."""

from __future__ import annotations

from typing import Any


def explain_record(rec: dict[str, Any]) -> str:
    auth = rec.get("auth") or {}
    scope = auth.get("scope") or {}
    lines = [
        f"Verdict:        {rec.get('verdict')}",
        f"Request:        {rec.get('method')} {rec.get('url')}",
        f"Scheme:         {auth.get('scheme')} ({auth.get('location')})",
        f"Access key:     {auth.get('access_key_id')}  (secret from: {rec.get('credential_source')})",
        f"Scope:          {' / '.join(str(v) for v in scope.values()) if scope else '-'}",
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
