"""Parsing of the authentication a request carries: SigV4 / SigV4a in the Authorization
header or in the query (presigned), SigV2 in either place.

``parse_auth`` never raises: malformed input gives a :class:`ParsedAuth` whose ``error``
says precisely what is wrong, in AWS's words where AWS has them, with
base64(SHA-256(raw header)) as AWS prints it.
"""

from __future__ import annotations

import re
from typing import Any

from sigv4_inspector.core.canonical import percent_decode, split_query
from sigv4_inspector.core.model import ParsedAuth, Scope, WireRequest, aws_header_digest

SIGV4_ALGORITHM = "AWS4-HMAC-SHA256"
SIGV4A_ALGORITHM = "AWS4-ECDSA-P256-SHA256"
ALGORITHMS = {SIGV4_ALGORITHM: "sigv4", SIGV4A_ALGORITHM: "sigv4a"}

_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")


def _qdecode(v: str | None) -> str | None:
    if v is None:
        return None
    return percent_decode(v).decode("utf-8", "replace")


def parse_scope(credential: str, scheme: str) -> tuple[str | None, Scope | None, str | None]:
    """Split ``AKID/date/[region/]service/aws4_request``; returns (akid, scope, error)."""
    parts = credential.split("/")
    want = 4 if scheme == "sigv4a" else 5
    if len(parts) != want or not all(parts):
        expect = (
            "AKID/date/service/aws4_request"
            if scheme == "sigv4a"
            else "AKID/date/region/service/aws4_request"
        )
        akid = parts[0] if parts and parts[0] else None
        return akid, None, f"Credential '{'/'.join(parts[1:])}' is not a valid scope ({expect})"
    if scheme == "sigv4a":
        akid, date, service, term = parts
        region = None
    else:
        akid, date, region, service, term = parts
    if not re.fullmatch(r"\d{8}", date):
        return (
            akid,
            Scope(date, region, service, term),
            f"Credential scope date '{date}' is not YYYYMMDD",
        )
    return akid, Scope(date, region, service, term), None


def _parse_header_params(rest: str) -> tuple[dict[str, str], list[str]]:
    params: dict[str, str] = {}
    problems: list[str] = []
    for raw in rest.split(","):
        item = raw.strip()
        if not item:
            continue
        # AWS also accepts a space between pairs; split further on whitespace.
        for piece in item.split():
            if "=" not in piece:
                problems.append(f"Authorization header pair '{piece[:40]}' has no '='")
                continue
            k, _, v = piece.partition("=")
            params[k] = v
    return params, problems


def parse_header_auth(raw: str, req: WireRequest) -> ParsedAuth | None:
    """Parse an Authorization header value; None when it is not an AWS scheme."""
    value = raw.strip()
    if not value:
        return None
    algorithm, _, rest = value.partition(" ")
    if algorithm == "AWS":
        return _parse_sigv2_header(rest, raw)
    if not algorithm.startswith("AWS4-") and algorithm not in ALGORITHMS:
        return None
    amz_date = req.header("x-amz-date") or req.header("date")
    common: dict[str, Any] = {
        "location": "header",
        "algorithm": algorithm,
        "amz_date": amz_date.strip() if amz_date else None,
        "payload": (req.header("x-amz-content-sha256") or "").strip() or None,
        "region_set": (req.header("x-amz-region-set") or "").strip() or None,
        "session_token": req.header("x-amz-security-token"),
        "raw_authorization": raw,
    }
    if algorithm not in ALGORITHMS:
        return ParsedAuth(
            scheme="sigv4",
            error=f"Unsupported AWS 'algorithm': '{algorithm}'",
            error_detail={"authorization_sha256_b64": aws_header_digest(raw)},
            **common,
        )
    scheme = ALGORITHMS[algorithm]
    params, problems = _parse_header_params(rest)
    for need in ("Credential", "SignedHeaders", "Signature"):
        if need not in params:
            problems.append(f"Authorization header requires '{need}' parameter.")
    akid, scope, scope_err = (None, None, None)
    if "Credential" in params:
        akid, scope, scope_err = parse_scope(params["Credential"], scheme)
        if scope_err:
            problems.append(scope_err)
    signed = tuple(h for h in params.get("SignedHeaders", "").split(";") if h)
    if "SignedHeaders" in params and not signed:
        problems.append("SignedHeaders is empty")
    if amz_date is None:
        problems.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    return ParsedAuth(
        scheme=scheme,  # type: ignore[arg-type]
        access_key_id=akid,
        scope=scope,
        signed_headers=signed,
        signature=params.get("Signature", ""),
        error=" ".join(problems) if problems else None,
        error_detail=(
            {"authorization_sha256_b64": aws_header_digest(raw), "problems": problems}
            if problems
            else {}
        ),
        **common,
    )


def _parse_sigv2_header(rest: str, raw: str) -> ParsedAuth:
    akid, colon, sig = rest.strip().rpartition(":")
    if not colon or not akid or not sig:
        return ParsedAuth(
            scheme="sigv2",
            location="header",
            algorithm="AWS",
            raw_authorization=raw,
            error="SigV2 Authorization must be 'AWS AccessKeyId:Signature'",
            error_detail={"authorization_sha256_b64": aws_header_digest(raw)},
        )
    return ParsedAuth(
        scheme="sigv2",
        location="header",
        algorithm="AWS",
        access_key_id=akid,
        signature=sig,
        raw_authorization=raw,
    )


def parse_query_auth(req: WireRequest) -> ParsedAuth | None:
    """Presigned SigV4/SigV4a (``X-Amz-Algorithm``) or SigV2 (``AWSAccessKeyId`` +
    ``Signature``) in the query; None when the query carries no AWS authentication."""
    pairs = split_query(req.raw_query)
    q: dict[str, str | None] = {}
    for k, v in pairs:
        q.setdefault(_qdecode(k) or "", v)
    if "X-Amz-Algorithm" in q:
        algorithm = _qdecode(q["X-Amz-Algorithm"]) or ""
        common: dict[str, Any] = {
            "location": "query",
            "algorithm": algorithm,
            "amz_date": _qdecode(q.get("X-Amz-Date")),
            "expires": _qdecode(q.get("X-Amz-Expires")),
            "region_set": _qdecode(q.get("X-Amz-Region-Set")),
            "session_token": _qdecode(q.get("X-Amz-Security-Token")),
            "payload": _qdecode(q.get("X-Amz-Content-Sha256")),
        }
        if algorithm not in ALGORITHMS:
            return ParsedAuth(
                scheme="sigv4", error=f"X-Amz-Algorithm '{algorithm}' is not supported", **common
            )
        scheme = ALGORITHMS[algorithm]
        problems = [
            f"Query-string authentication requires the {n} parameter"
            for n in ("X-Amz-Credential", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Date")
            if n not in q
        ]
        akid, scope, scope_err = (None, None, None)
        if "X-Amz-Credential" in q:
            akid, scope, scope_err = parse_scope(_qdecode(q["X-Amz-Credential"]) or "", scheme)
            if scope_err:
                problems.append(scope_err)
        signed = tuple(h for h in (_qdecode(q.get("X-Amz-SignedHeaders")) or "").split(";") if h)
        return ParsedAuth(
            scheme=scheme,  # type: ignore[arg-type]
            access_key_id=akid,
            scope=scope,
            signed_headers=signed,
            signature=_qdecode(q.get("X-Amz-Signature")) or "",
            error=" ".join(problems) if problems else None,
            error_detail={"problems": problems} if problems else {},
            **common,
        )
    if "AWSAccessKeyId" in q and "Signature" in q:
        return ParsedAuth(
            scheme="sigv2",
            location="query",
            algorithm=_qdecode(q.get("SignatureMethod")) or "HmacSHA1",
            access_key_id=_qdecode(q["AWSAccessKeyId"]),
            signature=_qdecode(q["Signature"]) or "",
            expires=_qdecode(q.get("Expires")),
            amz_date=_qdecode(q.get("Timestamp")),
            session_token=_qdecode(q.get("SecurityToken"))
            or _qdecode(q.get("x-amz-security-token")),
        )
    return None


def parse_auth(req: WireRequest) -> ParsedAuth:
    """The authentication of a request. ``scheme == 'none'`` when it carries none."""
    try:
        raw = req.header("authorization")
        if raw is not None:
            parsed = parse_header_auth(raw, req)
            if parsed is not None:
                return parsed
        parsed = parse_query_auth(req)
        if parsed is not None:
            return parsed
    except Exception as exc:  # never raise on hostile input
        return ParsedAuth(
            scheme="none", location=None, error=f"unparseable authentication ({type(exc).__name__})"
        )
    return ParsedAuth(scheme="none", location=None)


def is_valid_amz_date(value: str | None) -> bool:
    return bool(value) and bool(_AMZ_DATE.match(value or ""))
