"""The one-call pipeline used by the addon and scripts: request -> verification ->
findings -> record. Pure: everything it needs is passed in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sigv4core import rules
from sigv4core.forensics import ForensicResult, search
from sigv4core.model import Finding, Keyring, ParsedAuth, Verification, WireRequest
from sigv4core.rank import finalize
from sigv4core.report import build_record_line, comment_for, marker_for
from sigv4core.verify import verify


@dataclass
class Inspection:
    verification: Verification
    findings: list[Finding]
    headline: Finding | None
    record: dict[str, Any]
    comment: str
    marker: str
    extra: dict[str, Any] = field(default_factory=dict)
    line: str = ""  # the record as one JSON line (empty: encode ``record`` when needed)


def parse_response(
    status: int, headers: Sequence[tuple[str, str]], body: bytes | None
) -> rules.Response:
    """Wrap a response for the rules, parsing an AWS error body when there is one."""
    server_error = None
    if status >= 300:
        try:
            from sigv4core.servererror import parse_error_response

            server_error = parse_error_response(status, headers, body)
        except Exception:
            server_error = None
    return rules.Response(status=status, headers=list(headers), server_error=server_error)


def response_summary(resp: rules.Response | None) -> dict[str, Any] | None:
    if resp is None:
        return None
    se = resp.server_error
    return {
        "status": resp.status,
        "aws_error_code": getattr(se, "code", None) if se else None,
        "aws_error_message": (getattr(se, "message", None) or None) if se else None,
    }


def inspect_request(
    req: WireRequest,
    keyring: Keyring,
    *,
    flow_id: str,
    url: str,
    seen_at: datetime,
    now: datetime,
    response: rules.Response | None = None,
    proxy_changes: Sequence[rules.ProxyChange] = (),
    token_issuer: str | None = None,
    client_clock_ok: bool | None = None,
    verification: Verification | None = None,
    search_variants: bool = True,
    auth: ParsedAuth | None = None,
    input_source: str = "live",
    limits: Sequence[str] = (),
) -> Inspection:
    """Verify (unless a verification is given, e.g. from the streaming path), diagnose and
    build the record of one request."""
    v = verification if verification is not None else verify(req, keyring, now=now, auth=auth)
    forensic: ForensicResult | None = None
    if (
        v.verdict == "invalid"
        and v.reason in ("signature_mismatch", "signed_header_missing")
        and v.credential is not None
        and search_variants
    ):
        forensic = search(req, v, v.credential)
    ctx = rules.Context(
        req=req,
        v=v,
        now=now,
        response=response,
        proxy_changes=list(proxy_changes),
        token_issuer=token_issuer,
        client_clock_ok=client_clock_ok,
        forensic=forensic,
        input_source=input_source,
        limits=list(limits),
    )
    findings, headline = finalize(rules.diagnose(ctx))
    record, line = build_record_line(
        flow_id=flow_id,
        seen_at=seen_at,
        method=req.method,
        url=url,
        v=v,
        findings=findings,
        headline=headline,
        response=response_summary(response),
    )
    insp = Inspection(
        v,
        findings,
        headline,
        record,
        comment_for(v, findings, headline),
        marker_for(findings, v.verdict),
        line=line,
    )
    if forensic is not None:
        insp.extra["forensic"] = forensic
    return insp
