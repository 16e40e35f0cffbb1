"""One flow's inspection from plain captured data.

The addon captures what it needs from a mitmproxy flow into a
:class:`~sigv4core.capture.FlowCapture` (bytes and strings only, so it can cross a pipe)
and hands it to a :class:`FlowInspector`, either in its own process or in the worker
process (``sigv4core.worker``). The inspector keeps
the state that spans flows (the keyring, each client's recent clock readings) and turns
a capture into an :class:`Outcome`: the record, its JSON line, the comment and marker.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime

from sigv4core.authparse import parse_auth
from sigv4core.capture import FlowCapture, Outcome, decode_fields
from sigv4core.endpoints import is_aws_host
from sigv4core.model import Finding, Keyring, Verification, WireRequest
from sigv4core.pipeline import Inspection, inspect_request, parse_response
from sigv4core.report import build_record_line
from sigv4core.rules import parse_amz_date

__all__ = ["FlowCapture", "FlowInspector", "Outcome", "decode_fields", "outcome_of"]


def outcome_of(flow_id: str, insp: Inspection) -> Outcome:
    return Outcome(
        flow_id,
        insp.record,
        insp.line,
        insp.comment,
        insp.marker,
        insp.verification.verdict,
        tuple(f.code for f in insp.findings),
        str(insp.extra.get("internal_error", "")),
    )


class FlowInspector:
    """Inspects captured flows in order, with the state that spans flows."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
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
        auth = parse_auth(req)  # once per flow; handed down to the core
        if auth.scheme == "none" and not is_aws_host(req.host):
            return None
        seen_at = datetime.fromtimestamp(cap.seen_at, UTC)
        response = None
        if cap.status is not None:
            response = parse_response(
                cap.status, decode_fields(cap.response_fields), cap.response_body
            )
        akid = auth.access_key_id
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
            verification=cap.verification,
            auth=auth,
            input_source=cap.input_source,
        )

    def _client_clock_ok(self, cap: FlowCapture, req: WireRequest) -> bool | None:
        """Whether other recent requests of the same client carried a current x-amz-date."""
        signed = parse_amz_date(req.header("x-amz-date"))
        if signed is None:
            return None
        client = f"{cap.client_addr}|{req.header('user-agent') or ''}"
        skew = signed.timestamp() - cap.seen_at
        hist = self._clock.get(client)
        if hist is None:
            hist = self._clock[client] = deque(maxlen=20)
            if len(self._clock) > 1000:
                self._clock.pop(next(iter(self._clock)))
        ok = any(abs(s) < 60 and cap.seen_at - t < 600 for t, s in hist)
        hist.append((cap.seen_at, skew))
        return ok


def fallback_inspection(cap: FlowCapture, exc: Exception) -> Inspection | None:
    """The ``unverified`` record of a flow the inspector failed on (traffic unaffected)."""
    try:
        req = cap.wire()
        auth = parse_auth(req)
        if auth.scheme == "none" and not is_aws_host(req.host):
            return None
        v = Verification(verdict="unverified", auth=auth, reason="internal_error")
        finding = Finding(
            "CHECK_UNAVAILABLE",
            "warning",
            f"The inspector failed on this flow ({type(exc).__name__}); traffic was not affected.",
            "Report it with a bug-report bundle (sigv4.bundle).",
            {"check": "inspection"},
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
        insp = Inspection(
            v, [finding], finding, rec, "sigv4: unverified (inspector error)", "", line=line
        )
        insp.extra["internal_error"] = f"{type(exc).__name__}: {exc}"
        return insp
    except Exception:
        return None
