"""Prove the fix: from a flow's record, the one change its headline diagnosis names, and
the request with only that change (``sigv4.prove``; the addon replays it).

Pure: the record, the request as it went out, a way to look up the user's credentials and
"now" in; a :class:`ProofPlan` out. What changes, by headline:

- ``SIGNED_HEADER_MISSING``: the header added with the value that was signed (the URL or
  the variant search names it). No re-signing: the signature already covers it.
- ``HEADER_MODIFIED``: the signed value put back (``in-proxy``: pinned, so the proxy's own
  option cannot change it again on the replay; ``inferred``: the value the signature
  matches). A hop-by-hop header a hop after the proxy strips (``after-proxy``,
  Transfer-Encoding) cannot be put back past that hop: the signer was wrong to sign it,
  so the request is re-signed without it (botocore >= 1.36.7 does the same).
- ``HOST_MISMATCH`` (``inferred``): the Host the signature matches put back.
- ``URI_ENCODING`` / ``QUERY_ENCODING`` (``signer``), ``CLOCK_SKEW`` (a fresh date, on the
  server's clock), ``SECRET_MISMATCH`` (``inferred``: the secret without the stray
  whitespace), ``SCOPE_REGION_MISMATCH`` (the region the server or the host names),
  ``SECURITY_TOKEN_MISSING`` (the token the proxy learned with the key),
  ``SIGV2_DEPRECATED`` (SigV4 instead): the signer was wrong, so the request is re-signed
  with the user's credentials, changing only that.
- everything else: not provable by a change, and :attr:`ProofPlan.reason` says why (a
  wrong secret cannot be fixed without the right one; a hop after the proxy changes the
  replay too; an expired URL needs a new one).

A signature computed here is returned only for the replay; the plan keeps its fingerprint
(report.md: a signature the tool computed is never shown).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sigv4_inspector.core import canonical as c
from sigv4_inspector.core import keys
from sigv4_inspector.core.dates import parse_amz_date
from sigv4_inspector.core.endpoints import DEFAULT, Endpoints
from sigv4_inspector.core.model import Credential, ParsedAuth, Scope, WireRequest, fingerprint
from sigv4_inspector.core.rules import HOP_BY_HOP
from sigv4_inspector.core.verify import build_canonical_request

SAFE_METHODS = ("GET", "HEAD")
ALGORITHM = "AWS4-HMAC-SHA256"
# headers never signed when re-signing (botocore's blacklist, and hop-by-hop headers)
UNSIGNABLE = HOP_BY_HOP | {"user-agent", "x-amzn-trace-id", "expect", "authorization"}

Lookup = Callable[[str], Credential | None]

NOT_PROVABLE: dict[str, str] = {
    "SECRET_MISMATCH": "the client signed with a secret AWS does not have for this key: a replay cannot supply the right one (re-signing with the proxy's copy would test that copy, not the client's); update the client's secret",
    "SIGNATURE_MISMATCH": "no specific cause was named, so there is no single change to try",
    "SERVER_CANONICAL_DIFF": "a hop after the proxy changes the request; the replay passes the same hop",
    "CHANGED_AFTER_PROXY": "a hop after the proxy changes the request; the replay passes the same hop",
    "PRESIGN_EXPIRED": "the URL has expired: only a new presigned URL (the fix) can be tried, and that is the client's to generate",
    "PRESIGN_NOT_YET_VALID": "the URL is not valid yet: wait, or generate it with the right clock",
    "PRESIGN_EXPIRES_TOO_LONG": "the URL's expiry is above the 7-day limit: generate a new URL",
    "STS_GLOBAL_TOKEN_SIGV4A": "the session token comes from the global STS endpoint; a regional token must be fetched from STS by the client",
    "STS_GLOBAL_TOKEN_OPT_IN_REGION": "the session token comes from the global STS endpoint; a regional token must be fetched from STS by the client",
    "CREDENTIALS_EXPIRED": "the temporary credentials expired: the client must refresh them",
    "CHECKSUM_DEFAULTS_UNSUPPORTED": "the upload must be re-made by the SDK without the checksum trailer (AWS_REQUEST_CHECKSUM_CALCULATION=when_required); the proxy does not re-frame aws-chunked bodies",
    "TRANSFER_ENCODING_UNSUPPORTED": "the client must send the body with a known length",
    "PAYLOAD_HASH_MISMATCH": "the body that was signed is not known here",
    "CHUNK_SIGNATURE_MISMATCH": "the chunks that were signed are not known here",
    "CHECKSUM_MISMATCH": "the body that was checksummed is not known here",
    "MALFORMED_AUTHORIZATION": "the Authorization value is malformed: there is no signature to fix, only a signer to replace",
    "MRAP_REQUIRES_SIGV4A": "re-signing with SigV4a is not done here: install awscrt so the SDK signs MRAP requests with SigV4a",
    "UNKNOWN_ACCESS_KEY": "no secret is known for the key, so nothing can be checked or re-signed",
    "PERMISSION_DENIED": "an authorization (policy) denial is not a signature problem",
}


@dataclass
class ProofPlan:
    """What ``sigv4.prove`` does for one flow: the change, the request to replay, why not."""

    code: str
    provable: bool
    reason: str = ""  # why not, when not provable
    changes: list[str] = field(default_factory=list)  # each change, in words
    request: WireRequest | None = None  # the changed request (None when not provable)
    pins: list[tuple[str, str]] = field(default_factory=list)  # header values to re-apply
    resigned: bool = False
    signature: str | None = None  # fingerprint of the signature computed here

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "provable": self.provable,
            "reason": self.reason,
            "changes": list(self.changes),
            "resigned": self.resigned,
            "signature": self.signature,
        }


def _not(code: str, reason: str) -> ProofPlan:
    return ProofPlan(code, False, reason)


def _set_header(req: WireRequest, name: str, value: str | None) -> WireRequest:
    """The request with header ``name`` set (replacing every value) or removed (None)."""
    out, placed = [], False
    for k, v in req.headers:
        if k.lower() != name.lower():
            out.append((k, v))
        elif value is not None and not placed:
            out.append((k, value))
            placed = True
    if value is not None and not placed:
        out.append((_label(name), value))
    return WireRequest.build(req.method, req.target, out, req.body, req.authority, req.scheme)


def _label(name: str) -> str:
    return "-".join(p[:1].upper() + p[1:] for p in name.split("-"))


def _evidence(head: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any]:
    """The headline's evidence (the headline itself carries none)."""
    for f in rec.get("findings") or []:
        if f.get("code") == head.get("code") and f.get("message") == head.get("message"):
            return dict(f.get("evidence") or {})
    return {}


def _finding(rec: dict[str, Any], code: str) -> dict[str, Any] | None:
    return next((f for f in rec.get("findings") or [] if f.get("code") == code), None)


@dataclass
class _Signing:
    """What a re-signing needs: the credential, the scope and the time."""

    cred: Credential
    region: str
    service: str
    when: datetime


def resign(
    req: WireRequest,
    s: _Signing,
    *,
    location: str = "header",
    signed: list[str] | None = None,
    expires: str | None = None,
    with_token: bool = True,
) -> tuple[WireRequest, str]:
    """The request signed with SigV4 (header or presigned query) at ``s.when``; returns it
    and the signature's fingerprint. Any previous SigV4 or SigV2 authentication is
    removed first. ``signed`` names the headers to sign (default: host, content-type,
    content-md5 and every x-amz-* header sent, as botocore does)."""
    amz_date = s.when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    scope = Scope(amz_date[:8], s.region, s.service, "aws4_request")
    token = s.cred.session_token if with_token else None
    drop = {"authorization", "x-amz-date", "date", "x-amz-security-token"}
    headers = [(k, v) for k, v in req.headers if k.lower() not in drop]
    names = {k.lower() for k, _ in headers}
    if "host" not in names and req.authority:
        headers.insert(0, ("Host", req.authority))
    s3 = s.service in c.S3_SERVICES
    payload: str
    if location == "header":
        headers.append(("X-Amz-Date", amz_date))
        if token:
            headers.append(("X-Amz-Security-Token", token))
        sent = next((v for k, v in headers if k.lower() == "x-amz-content-sha256"), None)
        if sent:
            payload = sent
        elif req.body is not None:
            payload = hashlib.sha256(req.body).hexdigest()
            if s3:
                headers.append(("X-Amz-Content-SHA256", payload))
        else:
            payload = c.UNSIGNED_PAYLOAD
            if s3:
                headers.append(("X-Amz-Content-SHA256", payload))
    else:
        payload = c.UNSIGNED_PAYLOAD if s3 else hashlib.sha256(req.body or b"").hexdigest()
    if signed is None:
        signed = sorted(
            {
                k.lower()
                for k, _ in headers
                if k.lower() in ("host", "content-type", "content-md5")
                or (k.lower().startswith("x-amz-") and k.lower() not in UNSIGNABLE)
            }
        )
    signed = sorted(set(signed) - UNSIGNABLE)
    target = req.target
    if location == "query":
        keep = [
            (k, v)
            for k, v in c.split_query(req.raw_query)
            if not k.startswith("X-Amz-")
            and k not in ("AWSAccessKeyId", "Signature", "Expires", "SecurityToken")
        ]
        params = keep + [
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", c.uri_encode(f"{s.cred.access_key_id}/{scope}")),
            ("X-Amz-Date", amz_date),
            ("X-Amz-Expires", expires or "900"),
            ("X-Amz-SignedHeaders", c.uri_encode(";".join(signed))),
        ]
        if token:
            params.append(("X-Amz-Security-Token", c.uri_encode(token)))
        query = "&".join(k if v is None else f"{k}={v}" for k, v in params)
        target = req.path + "?" + query
    out = WireRequest.build(req.method, target, headers, req.body, req.authority, req.scheme)
    auth = ParsedAuth(
        "sigv4",
        "query" if location == "query" else "header",
        ALGORITHM,
        s.cred.access_key_id,
        scope,
        tuple(signed),
        "",
        amz_date,
        payload,
    )
    creq, _missing = build_canonical_request(out, auth, payload)
    sts = c.string_to_sign(ALGORITHM, amz_date, str(scope), creq)
    sig = keys.sigv4_signature(
        keys.signing_key(s.cred.secret_access_key, scope.date, s.region, s.service), sts
    )
    if location == "query":
        out = WireRequest.build(
            out.method,
            out.target + f"&X-Amz-Signature={sig}",
            out.headers,
            out.body,
            out.authority,
            out.scheme,
        )
    else:
        value = (
            f"{ALGORITHM} Credential={s.cred.access_key_id}/{scope}, "
            f"SignedHeaders={';'.join(signed)}, Signature={sig}"
        )
        out = _set_header(out, "authorization", value)
    return out, fingerprint(sig)


def _scope_of(rec: dict[str, Any]) -> tuple[str | None, str | None]:
    scope = (rec.get("auth") or {}).get("scope") or {}
    return scope.get("region"), scope.get("service")


def _sent_at(req: WireRequest, rec: dict[str, Any]) -> datetime | None:
    when = parse_amz_date(req.header("x-amz-date"))
    if when is None:
        q = dict((k, v) for k, v in c.split_query(req.raw_query))
        when = parse_amz_date(q.get("X-Amz-Date"))
    return when


def plan_proof(
    rec: dict[str, Any],
    req: WireRequest,
    *,
    now: datetime,
    lookup: Lookup,
    endpoints: Endpoints = DEFAULT,
) -> ProofPlan:
    """The change that tests the record's headline diagnosis, and the changed request."""
    head = rec.get("headline") or {}
    code = str(head.get("code") or "")
    if not code:
        return _not("", "the record has no finding to prove")
    if rec.get("verdict") == "unsigned":
        return _not(code, "the request is not signed")
    ev = _evidence(head, rec)
    auth = rec.get("auth") or {}
    akid = auth.get("access_key_id")
    location = auth.get("location") or "header"
    region, service = _scope_of(rec)

    def signing(
        when: datetime | None = None, region_: str | None = None, service_: str | None = None
    ) -> _Signing | str:
        cred = lookup(akid) if akid else None
        if cred is None:
            return f"no secret is known for {akid}, so the request cannot be re-signed"
        r = region_ or region
        svc = service_ or service
        if not r or not svc:
            return "the request's region or service is not known"
        return _Signing(cred, r, svc, when or _sent_at(req, rec) or now)

    def resigned(plan_changes: list[str], s: _Signing | str, **kw: Any) -> ProofPlan:
        if isinstance(s, str):
            return _not(code, s)
        if auth.get("scheme") not in ("sigv4", "sigv2"):
            return _not(code, f"re-signing {auth.get('scheme')} is not done here")
        loc = "query" if location == "query" else "header"
        expires = None
        if loc == "query":
            q = dict((k, v) for k, v in c.split_query(req.raw_query))
            expires = q.get("X-Amz-Expires") or None
        out, fp = resign(kw.pop("base", req), s, location=loc, expires=expires, **kw)
        changes = plan_changes + [
            f"re-signed with the secret of {s.cred.access_key_id} ({s.cred.source}), "
            f"scope {s.when:%Y%m%d}/{s.region}/{s.service}"
        ]
        return ProofPlan(code, True, changes=changes, request=out, resigned=True, signature=fp)

    if code == "SIGNED_HEADER_MISSING":
        name, value = ev.get("header"), ev.get("value")
        if not name:
            return _not(code, "the record does not name the missing header")
        if not value:
            return _not(
                code,
                f"the value that was signed for {name} is not known; send it from the client",
            )
        out = _set_header(req, str(name), str(value))
        return ProofPlan(
            code,
            True,
            changes=[f"added {_label(str(name))}: {value} (the value the signature covers)"],
            request=out,
            pins=[(str(name), str(value))],
        )

    if code == "HEADER_MODIFIED":
        name = str(ev.get("header") or "")
        where = ev.get("where")
        if not name:
            return _not(code, "the record does not name the header")
        if where == "in-proxy":
            value = ev.get("client")
            if value is None:
                return _not(code, f"the value the client sent for {name} is not known")
            out = _set_header(req, name, str(value))
            return ProofPlan(
                code,
                True,
                changes=[
                    f"put {_label(name)} back to {value!r} (the proxy's {ev.get('cause')} "
                    "changed it); pinned so the replay keeps it"
                ],
                request=out,
                pins=[(name, str(value))],
            )
        if where == "inferred" and ev.get("signed_value") is not None:
            value = str(ev["signed_value"])
            out = _set_header(req, name, value)
            return ProofPlan(
                code,
                True,
                changes=[f"put {_label(name)} back to {value!r}, the value the signature matches"],
                request=out,
                pins=[(name, value)],
            )
        if where == "after-proxy" and name in HOP_BY_HOP:
            signed = [h for h in auth.get("signed_headers") or [] if h != name]
            base = _set_header(req, name, None)
            if name == "transfer-encoding" and req.body is not None:
                base = _set_header(base, "content-length", str(len(req.body)))
            return resigned(
                [
                    f"{_label(name)} is hop-by-hop and a hop after the proxy strips it, so it "
                    "cannot be put back past that hop: dropped it and stopped signing it"
                ]
                + (
                    [f"sent the body with Content-Length: {len(req.body)}"]
                    if name == "transfer-encoding" and req.body is not None
                    else []
                ),
                signing(),
                base=base,
                signed=signed,
            )
        return _not(
            code,
            f"a hop after the proxy changes {name}; the replay passes the same hop: make it "
            "forward the header unchanged, then retry",
        )

    if code == "HOST_MISMATCH":
        if ev.get("where") == "inferred" and ev.get("signed_host"):
            value = str(ev["signed_host"])
            return ProofPlan(
                code,
                True,
                changes=[f"put Host back to {value!r}, the Host the signature matches"],
                request=_set_header(req, "host", value),
                pins=[("host", value)],
            )
        if ev.get("where") == "in-proxy":
            return _not(
                code,
                f"the proxy's own {ev.get('cause')} rewrites Host again on the replay: turn it "
                "off for AWS hosts (keep_host_header, map_remote), then retry",
            )
        return _not(code, "a hop after the proxy changes Host; the replay passes the same hop")

    if code in ("URI_ENCODING", "QUERY_ENCODING"):
        if ev.get("where") != "signer":
            return _not(code, f"the {code} finding is not the signer's ({ev.get('where')})")
        part = "path" if code == "URI_ENCODING" else "query"
        return resigned(
            [f"signed the {part} as AWS canonicalises it ({str(ev.get('aws_canonical'))[:120]!r})"],
            signing(),
        )

    if code == "CLOCK_SKEW":
        skew = ev.get("skew_seconds")
        sent = _sent_at(req, rec)
        seen = parse_amz_date(
            str(rec.get("time") or "").replace("-", "").replace(":", "")[:15] + "Z"
        )
        if not isinstance(skew, int | float) or sent is None:
            return _not(code, "the skew or the request's date is not known")
        # the server's clock when the flow was seen, carried to now
        offset = (sent - timedelta(seconds=skew)) - (seen or sent)
        fresh = now + offset
        return resigned(
            [
                f"dated the request {fresh:%Y-%m-%dT%H:%M:%SZ} (now on the server's clock"
                f" per {ev.get('reference')}) instead of {sent:%Y-%m-%dT%H:%M:%SZ}"
            ],
            signing(when=fresh),
        )

    if code == "SCOPE_REGION_MISMATCH":
        want = ev.get("expected_region") or ev.get("host_region")
        if not want:
            info = endpoints.host_info(req.host)
            if info.is_aws and info.region and info.region != ev.get("scope_region"):
                want = info.region
        if not want:
            return _not(
                code,
                f"the server refused region {ev.get('scope_region')!r} without naming the right "
                f"one, and the host {req.host} does not say which: create the client with the "
                "endpoint's region (region_name / AWS_REGION)",
            )
        return resigned(
            [f"signed for region {want!r} instead of {ev.get('scope_region')!r}"],
            signing(region_=str(want)),
        )

    if code == "SECRET_MISMATCH":
        if ev.get("where") == "inferred":
            return resigned(
                [
                    f"signed with the secret as stored, without the stray characters ({ev.get('variant')})"
                ],
                signing(),
            )
        return _not(code, NOT_PROVABLE[code])

    if code == "SECURITY_TOKEN_MISSING":
        cred = lookup(akid) if akid else None
        if cred is None or not cred.session_token:
            return _not(
                code,
                f"the session token of {akid} is not known here (it is learned when the STS "
                "or IMDS answer that issued the key passes the proxy)",
            )
        return resigned(
            [f"added the session token issued with {akid} ({cred.source}) and signed it"],
            signing(),
        )

    if code == "SIGV2_DEPRECATED":
        if location == "query":
            return _not(
                code,
                "a SigV2 presigned URL: generate a SigV4 one (signature_version='s3v4')",
            )
        info = endpoints.host_info(req.host)
        svc = info.service or "s3"
        rgn = info.region or "us-east-1"
        return resigned(
            [f"signed with SigV4 (scope {rgn}/{svc}) instead of SigV2"],
            signing(region_=rgn, service_=svc, when=now),
        )

    return _not(code, NOT_PROVABLE.get(code, f"{code} names no change a replay can test"))
