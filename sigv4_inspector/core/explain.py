"""Human-readable breakdown of one record: what `sigv4.explain` prints and what the
"AWS Signature" content view shows.

The text starts with the headline and its fix, then puts the client's canonical request
beside the one it is compared with, line by line, with the differing lines marked:

- the server's own canonical request, when its error echoed one (``SERVER_CANONICAL_DIFF``
  evidence ``server_canonical_request``);
- what went upstream, when the proxy itself changed a signed part (``where: in-proxy``);
- what the client's signer signed, when the signature matches only another encoding of
  the path or query (``URI_ENCODING`` / ``QUERY_ENCODING``, ``where: signer``) or another
  value of a header, host or payload (``where: inferred``);
- the header value the URL signed, when the request arrived without it
  (``SIGNED_HEADER_MISSING``).

mitmweb shows a content view as plain text, one ``<div>`` per line, inside a ``<pre>``
that does not wrap (mitmproxy 12's web UI ignores the view's syntax highlighting), so
every line here is wrapped to ``width`` characters and a differing row carries a ``≠`` in
the left gutter instead of a colour. For an S3 POST upload it shows the decoded policy:
each condition marked ✓ (met), ✗ (failed) or ? (not decided here) against the value the
form sent, from the record's evidence (rules.unsigned_payload). Pure: a record in, text
out, bounded by the record.
"""

from __future__ import annotations

import difflib
import textwrap
from dataclasses import dataclass
from typing import Any

DIFF_MARK = "\u2260"  # ≠, in the gutter of a row whose two sides differ
CONT = "\u21aa "  # ↪, at the start of a wrapped line's continuation
MAX_LINES = 120  # canonical request lines compared per side
MAX_LINE = 2048  # characters of one line shown before it is cut
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


@dataclass
class Comparison:
    """Two canonical requests to show side by side, and what they are."""

    left_title: str
    right_title: str
    left: list[str]
    right: list[str]
    note: str = ""


def _lines(text: str) -> list[str]:
    out = text.split("\n")[:MAX_LINES]
    return [x if len(x) <= MAX_LINE else x[:MAX_LINE] + f"... [{len(x)} characters]" for x in out]


def _replace_header(lines: list[str], name: str, value: str | None) -> list[str]:
    """The canonical lines with header ``name``'s line set to ``value`` (None: removed)."""
    if len(lines) < 6:
        return lines
    out, found = [], False
    for i, line in enumerate(lines):
        in_headers = 3 <= i < len(lines) - 3
        if in_headers and line.split(":", 1)[0] == name:
            found = True
            if value is not None:
                out.append(f"{name}:{value}")
            continue
        out.append(line)
    if not found and value is not None:
        # the header line goes where canonical headers sort it
        end = len(out) - 3
        pos = next((i for i in range(3, end) if out[i].split(":", 1)[0] > name), end)
        out.insert(pos, f"{name}:{value}")
    return out


def _replace_line(lines: list[str], index: int, value: str) -> list[str]:
    if index >= len(lines) or (index < 0 and -index > len(lines)):
        return lines
    out = list(lines)
    out[index] = value
    return out


def _first(findings: list[dict[str, Any]], code: str, **where: str) -> dict[str, Any] | None:
    for f in findings:
        ev = f.get("evidence") or {}
        if f.get("code") == code and all(ev.get(k) == v for k, v in where.items()):
            return f
    return None


def comparison(rec: dict[str, Any]) -> Comparison | None:
    """What to show beside the record's canonical request, chosen by the headline: the
    comparison its finding supports first, else the server's echo, else any other."""
    creq = rec.get("canonical_request")
    if not isinstance(creq, str) or not creq:
        return None
    base = _lines(creq)
    findings = [f for f in rec.get("findings") or [] if isinstance(f, dict)]
    found: list[tuple[dict[str, Any], Comparison]] = []

    echo = _first(findings, "SERVER_CANONICAL_DIFF")
    server = (echo or {}).get("evidence", {}).get("server_canonical_request") if echo else None
    if echo is not None and isinstance(server, str) and server:
        found.append(
            (
                echo,
                Comparison(
                    "client's canonical request (as the proxy received it)",
                    "server's canonical request (echoed in its error)",
                    base,
                    _lines(server),
                    "A hop after the proxy changed the marked lines.",
                ),
            )
        )

    upstream = list(base)
    changed: list[dict[str, Any]] = []
    for f in findings:
        ev = f.get("evidence") or {}
        if ev.get("where") != "in-proxy" or f.get("severity") != "error":
            continue
        if f.get("code") == "HEADER_MODIFIED" and ev.get("header"):
            upstream = _replace_header(upstream, str(ev["header"]), ev.get("upstream"))
            changed.append(f)
        elif f.get("code") == "HOST_MISMATCH" and ev.get("upstream") is not None:
            upstream = _replace_header(upstream, "host", str(ev["upstream"]))
            changed.append(f)
    if changed and upstream != base:
        comp = Comparison(
            "client's canonical request (as signed)",
            "what went upstream (after the proxy's changes)",
            base,
            upstream,
            "The proxy changed the marked lines: "
            + "; ".join(
                str((c.get("evidence") or {}).get("cause") or c.get("code")) for c in changed
            )[:300],
        )
        found.extend((c, comp) for c in changed)

    for code, index in (("URI_ENCODING", 1), ("QUERY_ENCODING", 2)):
        enc = _first(findings, code, where="signer")
        ev = (enc or {}).get("evidence") or {}
        if enc is not None and isinstance(ev.get("signed_canonical"), str):
            found.append(
                (
                    enc,
                    Comparison(
                        "what the client's signer signed",
                        "what AWS computes",
                        _replace_line(base, index, ev["signed_canonical"]),
                        _replace_line(base, index, str(ev.get("aws_canonical") or base[index])),
                        f"The signer's {'path' if index == 1 else 'query'} differs from AWS's"
                        " canonical form.",
                    ),
                )
            )

    for f in findings:
        ev = f.get("evidence") or {}
        if ev.get("where") != "inferred":
            continue
        signed = None
        if "signed_value" in ev and ev.get("header"):
            signed = _replace_header(base, str(ev["header"]), str(ev["signed_value"]))
        elif "signed_host" in ev:
            signed = _replace_header(base, "host", str(ev["signed_host"]))
        elif "signed_uri" in ev:
            signed = _replace_line(base, 1, str(ev["signed_uri"]))
        elif "signed_query" in ev:
            signed = _replace_line(base, 2, str(ev["signed_query"]))
        elif "signed_payload" in ev:
            signed = _replace_line(base, -1, str(ev["signed_payload"]))
        if signed is not None and signed != base:
            found.append(
                (
                    f,
                    Comparison(
                        "what the signature matches (as signed)",
                        "as the proxy received it",
                        signed,
                        base,
                        "Found by trying variants: the signature matches the left side.",
                    ),
                )
            )

    for f in findings:
        ev = f.get("evidence") or {}
        if f.get("code") != "SIGNED_HEADER_MISSING" or not ev.get("header"):
            continue
        value = ev.get("value")
        signed = _replace_header(
            base, str(ev["header"]), str(value) if value else "<the value signed, not known>"
        )
        found.append(
            (
                f,
                Comparison(
                    "what the signature covers (as signed)",
                    "as the proxy received it",
                    signed,
                    base,
                    f"The request arrived without {ev['header']}.",
                ),
            )
        )

    if not found:
        return None
    head = rec.get("headline") or {}
    for f, comp in found:
        if f.get("code") == head.get("code") and f.get("message") == head.get("message"):
            return comp
    return found[0][1]


def _wrap(text: str, width: int, indent: str = "", cont: str = "") -> list[str]:
    """``text`` hard-wrapped to ``width`` columns (words kept whole where they fit)."""
    out: list[str] = []
    for para in text.split("\n"):
        out += textwrap.wrap(
            para,
            width=max(width, 20),
            initial_indent=indent,
            subsequent_indent=cont or indent,
            break_long_words=True,
            break_on_hyphens=False,
            replace_whitespace=False,
            drop_whitespace=True,
        ) or [indent.rstrip()]
    return out


def _chunks(line: str, width: int) -> list[str]:
    """A canonical line cut into ``width``-column pieces (exact characters, no reflow)."""
    if len(line) <= width:
        return [line]
    first, rest = line[:width], line[width:]
    step = max(width - len(CONT), 1)
    return [first, *(CONT + rest[i : i + step] for i in range(0, len(rest), step))]


def side_by_side(comp: Comparison, width: int) -> list[str]:
    """The two sides in columns, aligned line by line (difflib), long lines wrapped in
    their column, ``≠`` in the gutter of every row that differs."""
    col = max((width - 5) // 2, 16)
    rows: list[tuple[str, str | None, str | None]] = []
    sm = difflib.SequenceMatcher(a=comp.left, b=comp.right, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            rows += [(" ", x, x) for x in comp.left[i1:i2]]
            continue
        da, db = comp.left[i1:i2], comp.right[j1:j2]
        for k in range(max(len(da), len(db))):
            rows.append((DIFF_MARK, da[k] if k < len(da) else None, db[k] if k < len(db) else None))
    out = [
        f"  {comp.left_title[:col]:<{col}} \u2502 {comp.right_title[:col]}",
        f"  {'-' * col} \u253c {'-' * col}",
    ]
    for mark, left_line, right_line in rows:
        la = _chunks(left_line if left_line is not None else "(absent)", col)
        lb = _chunks(right_line if right_line is not None else "(absent)", col)
        for k in range(max(len(la), len(lb))):
            left = la[k] if k < len(la) else ""
            right = lb[k] if k < len(lb) else ""
            out.append(f"{mark if k == 0 else ' '} {left:<{col}} \u2502 {right}".rstrip())
    return out


def explain_record(rec: dict[str, Any], width: int = 100) -> str:
    """The record as a person reads it: headline and fix, the request, the canonical
    request beside its comparison (when there is one), every finding, then the canonical
    request and string to sign. Every line fits in ``width`` columns."""
    width = max(width, 40)
    auth = rec.get("auth") or {}
    scope = auth.get("scope") or {}
    form = auth.get("location") == "form"
    lines: list[str] = []
    head = rec.get("headline")
    if head:
        lines += _wrap(f"{head.get('code')} ({head.get('severity')})", width)
        lines += _wrap(str(head.get("message") or ""), width, "  ")
        if head.get("fix"):
            lines += _wrap(f"Fix: {head['fix']}", width, "  ", "       ")
    else:
        lines.append(f"No findings: the request is {rec.get('verdict')}.")
    lines.append("")
    facts = [
        ("Verdict", str(rec.get("verdict"))),
        ("Request", f"{rec.get('method')} {rec.get('url')}"),
        ("Scheme", f"{auth.get('scheme')} ({auth.get('location')})"),
        (
            "Access key",
            f"{auth.get('access_key_id')}  (secret from: {rec.get('credential_source')})",
        ),
        ("Scope", " / ".join(str(v) for v in scope.values()) if scope else "-"),
    ]
    if form:
        facts.append(("Signed", "the base64 policy (the form's 'policy' field) as sent"))
    else:
        facts += [
            ("Signed headers", ";".join(auth.get("signed_headers") or []) or "-"),
            ("Payload", str(auth.get("payload"))),
        ]
    if auth.get("session_token"):
        facts.append(("Session token", str(auth["session_token"])))
    if auth.get("matched_variant"):
        facts.append(("Matched as", str(auth["matched_variant"])))
    resp = rec.get("response")
    if resp:
        facts.append(
            ("Response", f"{resp.get('status')} {resp.get('aws_error_code') or ''}".rstrip())
        )
    for label, value in facts:
        lines += _wrap(f"{label + ':':<16}{value}", width, "", " " * 16)
    for line in _post_lines(rec):
        lines += _wrap(line, width, "", "      ") if line else [""]

    comp = comparison(rec)
    if comp is not None:
        lines += ["", "Canonical request compared:"]
        rows = side_by_side(comp, width)
        lines += rows
        differ = sum(1 for r in rows if r.startswith(DIFF_MARK))
        lines += _wrap(
            f"Rows marked {DIFF_MARK} differ ({differ}). {comp.note}".rstrip(),
            width,
        )

    findings = rec.get("findings") or []
    lines.append("")
    lines.append("Findings:" if findings else "Findings:       none")
    for f in findings:
        lines += _wrap(f"[{f['severity']}] {f['code']}: {f['message']}", width, "  ", "    ")
        if f.get("fix"):
            lines += _wrap(f"fix: {f['fix']}", width, "      ", "           ")
    for title, key in (
        ("Canonical request", "canonical_request"),
        ("String to sign", "string_to_sign"),
    ):
        val = rec.get(key)
        if val:
            lines += ["", f"{title}:", "-" * 40]
            for raw in str(val).split("\n"):
                lines += _chunks(raw, width)
            lines.append("-" * 40)
    return "\n".join(lines)
