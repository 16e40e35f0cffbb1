"""The one inspect step: a flow as captured -> the request as seen -> verification ->
findings -> the record. Pure: everything it needs is passed in ("now" included), so the
same capture always gives the same :class:`Inspection`, on any machine.

:class:`FlowInspector` keeps the little state that spans flows (the keyring, each client's
recent clock readings) and turns a :class:`~sigv4_inspector.core.capture.FlowCapture` into
an :class:`Inspection`, the one result type from verification to the written record.
:func:`inspect_request` is the same step for a request already in hand (tests, scripts).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sigv4_inspector.core import rules
from sigv4_inspector.core.authparse import parse_auth
from sigv4_inspector.core.capture import FlowCapture, decode_fields
from sigv4_inspector.core.dates import parse_amz_date
from sigv4_inspector.core.endpoints import DEFAULT, Endpoints, is_aws_host
from sigv4_inspector.core.forensics import ForensicResult, search
from sigv4_inspector.core.model import (
    Finding,
    Keyring,
    ParsedAuth,
    Reason,
    Verdict,
    Verification,
    WireRequest,
)
from sigv4_inspector.core.multipart import MAX_KEPT_BYTES, MultipartParser
from sigv4_inspector.core.postpolicy import form_post_boundary, post_upload
from sigv4_inspector.core.rank import finalize
from sigv4_inspector.core.report import build_record_line, comment_for, marker_for
from sigv4_inspector.core.verify import settle_post, verify

__all__ = [
    "FlowInspector",
    "Inspection",
    "access_key_of",
    "fallback_inspection",
    "inspect_request",
    "parse_response",
]


@dataclass(slots=True)
class Inspection:
    """Everything known about one flow: the verification, the findings in report order,
    the headline, and the record (as a dict and as its JSON line) with the flow's comment
    and marker."""

    verification: Verification
    findings: list[Finding]
    headline: Finding | None
    record: dict[str, Any]
    line: str
    comment: str
    marker: str
    forensic: ForensicResult | None = None
    error: str = ""  # the inspector's own failure on this flow, for the log

    @property
    def verdict(self) -> Verdict:
        return self.verification.verdict

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.findings)


def parse_response(
    status: int, headers: Sequence[tuple[str, str]], body: bytes | None
) -> rules.Response:
    """Wrap a response for the rules, parsing an AWS error body when there is one."""
    server_error = None
    if status >= 300:
        try:
            from sigv4_inspector.core.servererror import parse_error_response

            server_error = parse_error_response(status, headers, body)
        except Exception:
            server_error = None
    return rules.Response(
        status=status, headers=list(headers), server_error=server_error, has_body=bool(body)
    )


def _response_summary(resp: rules.Response | None) -> dict[str, Any] | None:
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
    auth: ParsedAuth | None = None,
    input_source: str = "live",
    limits: Sequence[str] = (),
    endpoints: Endpoints = DEFAULT,
    credentials_problem: str | None = None,
) -> Inspection:
    """Verify (unless a verification is given, e.g. from the streaming path), diagnose and
    build the record of one request. An S3 POST upload verified while it streamed gets its
    policy evaluated at ``now`` here, and its signature checked if its key became known."""
    v = verification if verification is not None else verify(req, keyring, now=now, auth=auth)
    if v.post_upload is not None:
        v = settle_post(v, req, keyring, now)
    forensic: ForensicResult | None = None
    if (
        v.verdict is Verdict.INVALID
        and v.reason in (Reason.SIGNATURE_MISMATCH, Reason.SIGNED_HEADER_MISSING)
        and v.credential is not None
        and v.auth.location != "form"  # the variants are a request's; a policy has none
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
        endpoints=endpoints,
        credentials_problem=credentials_problem,
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
        response=_response_summary(response),
    )
    return Inspection(
        v,
        findings,
        headline,
        record,
        line,
        comment_for(v, findings, headline),
        marker_for(findings, v.verdict),
        forensic,
    )


class FlowInspector:
    """Inspects captured flows in order, with the state that spans flows. Safe to call from
    a second thread besides the first (the addon's heavy flows): its state is the clients'
    recent clock readings, changed by single dict and deque operations."""

    MAX_CLIENTS = 1000  # clients whose recent clock readings are kept

    def __init__(self, keyring: Keyring, endpoints: Endpoints = DEFAULT) -> None:
        self.keyring = keyring
        self.endpoints = endpoints
        self._clock: dict[str, deque[tuple[float, float]]] = {}

    def inspect(self, cap: FlowCapture) -> Inspection | None:
        """The inspection of one flow; None when it is neither AWS-signed nor sent to an
        AWS endpoint. Never raises: an internal failure gives an ``unverified`` record."""
        try:
            return self._inspect(cap)
        except Exception as exc:
            return fallback_inspection(cap, exc)

    def _inspect(self, cap: FlowCapture) -> Inspection | None:
        req = cap.wire()
        auth = parse_auth(req)  # once per flow; handed down
        aws_host = is_aws_host(req.host)
        v = cap.verification
        # an S3 POST upload authenticates in its form (to AWS or any S3-compatible host):
        # recognised once the body is read; any other unsigned request to another host is
        # not AWS traffic
        if auth.scheme == "none" and not aws_host and v is None and not _may_be_post_upload(req):
            return None
        seen_at = datetime.fromtimestamp(cap.seen_at, UTC)
        if v is None and auth.scheme == "none":
            v = verify(req, self.keyring, now=seen_at, auth=auth)
        if v is not None and v.auth.scheme == "none" and not aws_host:
            return None
        response = None
        if cap.status is not None:
            response = parse_response(
                cap.status, decode_fields(cap.response_fields), cap.response_body
            )
        akid = (v.auth if v is not None else auth).access_key_id
        cred = self.keyring.lookup(akid) if akid else None
        issuer = (
            cred.issued_by if cred is not None and cred.source.startswith("learned:sts") else None
        )
        return inspect_request(
            req,
            self.keyring,
            flow_id=cap.flow_id,
            url=f"{cap.scheme}://{req.authority}{req.target}",
            seen_at=seen_at,
            now=seen_at,
            response=response,
            proxy_changes=cap.proxy_changes,
            token_issuer=issuer,
            client_clock_ok=self._client_clock_ok(cap, req),
            verification=v,
            auth=auth,
            input_source=cap.input_source,
            limits=cap.limits,
            endpoints=self.endpoints,
            credentials_problem=cap.credentials_problem,
        )

    def _client_clock_ok(self, cap: FlowCapture, req: WireRequest) -> bool | None:
        """Whether other recent requests of the same client carried a current x-amz-date."""
        signed = parse_amz_date(req.header("x-amz-date"))
        if signed is None:
            return None
        client = f"{cap.client_addr}|{(req.header('user-agent') or '')[:200]}"
        skew = signed.timestamp() - cap.seen_at
        hist = self._clock.get(client)
        if hist is None:
            hist = self._clock[client] = deque(maxlen=20)
            if len(self._clock) > self.MAX_CLIENTS:
                for oldest in list(self._clock)[:1]:
                    self._clock.pop(oldest, None)
        # copies and single operations: the addon may inspect a heavy flow on a second
        # thread meanwhile (each is atomic under the GIL; iterating the live deque is not)
        ok = any(abs(s) < 60 and cap.seen_at - t < 600 for t, s in tuple(hist))
        hist.append((cap.seen_at, skew))
        return ok


def _may_be_post_upload(req: WireRequest) -> bool:
    """A buffered multipart POST that names a ``policy`` field in its first fields: an S3
    POST upload to an S3-compatible host, perhaps. S3 reads at most 20 KB of fields before
    the file, so other forms (a large upload to some web site) are not parsed at all."""
    if form_post_boundary(req.method, req.header("content-type")) is None or not req.body:
        return False
    return b"policy" in bytes(memoryview(req.body)[:MAX_KEPT_BYTES]).lower()


def access_key_of(cap: FlowCapture) -> str | None:
    """The access key id a flow is signed with, cheaply (whether it must wait for
    credentials still loading): the header or query's, a streamed POST upload's, or a
    buffered POST upload's from the form's first fields (S3 reads at most 20 KB before the
    file, so the first MAX_KEPT_BYTES are enough)."""
    if cap.verification is not None:
        return cap.verification.auth.access_key_id
    req = cap.wire()
    auth = parse_auth(req)
    if auth.scheme != "none":
        return auth.access_key_id
    boundary = form_post_boundary(req.method, req.header("content-type"))
    if boundary is None or not req.body:
        return None
    parser = MultipartParser(boundary)
    parser.feed(memoryview(req.body)[:MAX_KEPT_BYTES])
    upload = post_upload(parser.finish())
    akid = upload.access_key_id if upload is not None else None
    return akid.strip() if akid else None


def fallback_inspection(cap: FlowCapture, exc: Exception) -> Inspection | None:
    """The ``unverified`` record of a flow the inspector failed on (traffic unaffected)."""
    try:
        req = cap.wire()
        auth = parse_auth(req)
        if auth.scheme == "none" and not is_aws_host(req.host):
            return None
        v = Verification(verdict=Verdict.UNVERIFIED, auth=auth, reason=Reason.INTERNAL_ERROR)
        finding = rules.check_unavailable_finding(
            "warning",
            f"The inspector failed on this flow ({type(exc).__name__}); traffic was not affected.",
            "Report it with a bug-report bundle (sigv4.bundle).",
            check="inspection",
        )
        rec, line = build_record_line(
            flow_id=cap.flow_id,
            seen_at=datetime.fromtimestamp(cap.seen_at, UTC),
            method=req.method,
            url=f"{cap.scheme}://{req.authority}{req.target}",
            v=v,
            findings=[finding],
            response=None,
            headline=finding,
        )
        comment = comment_for(v, [finding], finding)
        return Inspection(
            v, [finding], finding, rec, line, comment, ":warning:", None, type(exc).__name__
        )
    except Exception:
        return None
