"""Diagnosis rules: each finding code of report.md is produced here, by one rule function,
with its message and fix beside it.

A rule reads a :class:`Context` (the request as the client sent it, the verification, the
proxy's clock, what the proxy changed, the server's answer) and returns findings. Adding a
diagnosis means adding one rule here and one test; the addon never changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sigv4core.credentials import is_global_sts_host
from sigv4core.endpoints import host_info, is_aws_host
from sigv4core.model import Finding, Verification, WireRequest, fingerprint, header_index
from sigv4core.tokens import describe_token, token_format

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "proxy-authorization",
        "proxy-authenticate",
        "proxy-connection",
    }
)
VOLATILE = frozenset(
    {
        "accept-encoding",
        "via",
        "x-amzn-trace-id",
        "traceparent",
        "tracestate",
        "baggage",
        "user-agent",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-port",
        "x-real-ip",
        "forwarded",
        "cdn-loop",
        "x-request-id",
    }
)
S3_SKEW = timedelta(minutes=15)
DEFAULT_SKEW = timedelta(minutes=5)
MAX_PRESIGN = 604800


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    server_error: Any = None  # servererror.ServerError when the body is an AWS error
    _index: dict[str, list[str]] | None = field(default=None, compare=False, repr=False)

    def header(self, name: str) -> str | None:
        """The values of a header joined with ',' (case-insensitive), or None if absent."""
        if self._index is None:  # several rules ask; the headers are lower-cased once
            self._index = header_index(self.headers)
        vals = self._index.get(name.lower())
        return ",".join(vals) if vals else None


@dataclass
class ProxyChange:
    """A difference between the request as the client sent it and as sent upstream."""

    part: str  # "header", "host", "path", "query", "body"
    name: str | None
    client: str | None
    upstream: str | None
    cause: str  # "modify_headers option", "anticomp option", "another addon", ...
    signed: bool


@dataclass
class Context:
    req: WireRequest
    v: Verification
    now: datetime
    response: Response | None = None
    proxy_changes: list[ProxyChange] = field(default_factory=list)
    token_issuer: str | None = None  # host that issued the session token, when learned
    client_clock_ok: bool | None = None  # other recent flows of this client were current
    forensic: dict[str, Any] | None = None  # the variant search's result, when run

    @property
    def auth(self) -> Any:
        return self.v.auth

    @property
    def service(self) -> str | None:
        return self.auth.scope.service if self.auth.scope else None


Rule = Callable[[Context], Iterable[Finding]]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def _f(code: str, severity: str, message: str, fix: str = "", **evidence: Any) -> Finding:
    return Finding(code, severity, message, fix, evidence)  # type: ignore[arg-type]


def parse_amz_date(value: str | None) -> datetime | None:
    """An x-amz-date (ISO basic) or HTTP date as an aware UTC datetime; None if neither."""
    if not value:
        return None
    return _parse_date(value)


@lru_cache(maxsize=1024)  # each flow reads its date several times; datetimes are immutable
def _parse_date(value: str) -> datetime | None:
    v = value.strip()
    if len(v) == 16 and v[8] == "T" and v[15] == "Z" and v[:8].isdigit() and v[9:15].isdigit():
        try:
            return datetime(
                int(v[:4]),
                int(v[4:6]),
                int(v[6:8]),
                int(v[9:11]),
                int(v[11:13]),
                int(v[13:15]),
                tzinfo=UTC,
            )
        except ValueError:
            return None
    try:
        from email.utils import parsedate_to_datetime

        d = parsedate_to_datetime(value)
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    except (TypeError, ValueError, IndexError):
        return None


def _user_agent(ctx: Context) -> str:
    return ctx.req.header("user-agent") or ""


# --- the verification's own outcome -------------------------------------------------------


@rule
def malformed_authorization(ctx: Context) -> Iterable[Finding]:
    if ctx.v.reason != "malformed_authorization":
        return
    d = ctx.v.detail
    yield _f(
        "MALFORMED_AUTHORIZATION",
        "error",
        f"The {'Authorization header' if ctx.auth.location == 'header' else 'presigned query'} cannot be parsed: {d.get('error')}",
        "Sign the request with an AWS SDK or a maintained signer instead of building the Authorization value by hand.",
        authorization_sha256_b64=d.get("authorization_sha256_b64"),
        problems=d.get("problems"),
    )


@rule
def signed_header_missing(ctx: Context) -> Iterable[Finding]:
    missing = ctx.v.missing_headers
    if not missing or ctx.v.verdict == "valid":
        return
    values = dict(ctx.v.detail.get("values", {}))
    fz = ctx.forensic or {}
    if fz.get("explained") and fz.get("kind") == "header":
        ev = fz.get("evidence") or {}
        if ev.get("header") in missing and ev.get("signed_value"):
            values[ev["header"]] = ev["signed_value"]
    for name in missing:
        value = values.get(name)
        header = "-".join(p.capitalize() for p in name.split("-"))
        if ctx.auth.location == "query":
            shown = f"{name}: {value}" if value else name
            msg = f"The presigned URL signed {shown} but the {ctx.req.method} request sent none."
            if value:
                fix = (
                    f"Send the header {header}: {value} with the request "
                    f"(requests.put(url, data=f, headers={{'{header}': '{value}'}}))."
                )
            else:
                fix = (
                    f"Send the header {header} with exactly the value used when the URL was generated"
                    + (
                        " (the ContentType passed to generate_presigned_url)"
                        if name == "content-type"
                        else ""
                    )
                    + ", or generate the URL without it."
                )
        else:
            msg = f"SignedHeaders lists '{name}', but the request carries no such header."
            fix = f"Find what removed '{name}' after signing (a proxy, the HTTP library) or stop signing it."
        yield _f(
            "SIGNED_HEADER_MISSING",
            "error",
            msg,
            fix,
            header=name,
            value=value,
            where="as-received",
        )


@rule
def payload_hash_mismatch(ctx: Context) -> Iterable[Finding]:
    if ctx.v.reason != "payload_hash_mismatch" and "payload_hash_mismatch" not in ctx.v.detail.get(
        "also", []
    ):
        return
    d = ctx.v.detail if ctx.v.reason == "payload_hash_mismatch" else {}
    yield _f(
        "PAYLOAD_HASH_MISMATCH",
        "error",
        f"The body's SHA-256 ({(d.get('body') or ctx.v.body_sha256 or '')[:16]}...) differs from the signed payload hash x-amz-content-sha256 ({(d.get('signed') or ctx.v.payload_line or '')[:16]}...).",
        "The body changed after signing (re-encoding, compression, a retry that re-read a stream): sign the exact bytes that are sent.",
        signed=d.get("signed") or ctx.v.payload_line,
        body=d.get("body") or ctx.v.body_sha256,
    )


@rule
def chunk_signature_mismatch(ctx: Context) -> Iterable[Finding]:
    reasons = [ctx.v.reason] + list(ctx.v.detail.get("also", []))
    if "chunk_signature_mismatch" in reasons and ctx.v.reason == "chunk_signature_mismatch":
        d = ctx.v.detail
        which = (
            "the trailer signature" if d.get("chunk") == "trailer" else f"chunk {d.get('chunk')}"
        )
        yield _f(
            "CHUNK_SIGNATURE_MISMATCH",
            "error",
            f"The aws-chunked signature chain breaks at {which} ({ctx.v.chunks_verified} chunk(s) verified before it).",
            "The chunk data or framing changed after signing (a hop re-framed the body): send the upload without re-chunking proxies, or disable aws-chunked with AWS_REQUEST_CHECKSUM_CALCULATION=when_required.",
            chunk=d.get("chunk"),
            chunks_verified=ctx.v.chunks_verified,
            detail=d.get("error"),
        )
    if "aws_chunked_framing" in reasons:
        d = ctx.v.detail if ctx.v.reason == "aws_chunked_framing" else {}
        yield _f(
            "CHUNK_SIGNATURE_MISMATCH",
            "error",
            f"The aws-chunked body is not well framed: {d.get('error', 'framing error')}.",
            "Something between the SDK and here re-framed or truncated the body; check Content-Length and any proxy that buffers uploads.",
            framing=d.get("error"),
        )
    if "decoded_length_mismatch" in reasons:
        d = ctx.v.detail if ctx.v.reason == "decoded_length_mismatch" else {}
        yield _f(
            "CHUNK_SIGNATURE_MISMATCH",
            "error",
            f"x-amz-decoded-content-length says {d.get('declared')} bytes but the aws-chunked body decodes to {d.get('decoded')}.",
            "The body was truncated or extended after signing.",
            declared=d.get("declared"),
            decoded=d.get("decoded"),
        )


@rule
def checksum_mismatch(ctx: Context) -> Iterable[Finding]:
    for ck in ctx.v.checksums:
        if ck["ok"]:
            continue
        where = "trailer" if ck["location"] == "trailer" else "header"
        if ck["expected"] is None:
            msg = f"x-amz-trailer announces x-amz-checksum-{ck['algorithm']} but the body ends without that trailer."
        else:
            msg = f"The x-amz-checksum-{ck['algorithm']} {where} ({ck['expected']}) does not match the body ({ck['actual']})."
        yield _f(
            "CHECKSUM_MISMATCH",
            "error",
            msg,
            "The body changed after the checksum was computed; compute it over the bytes actually sent.",
            algorithm=ck["algorithm"],
            location=where,
            expected=ck["expected"],
            actual=ck["actual"],
        )


@rule
def signature_mismatch(ctx: Context) -> Iterable[Finding]:
    v = ctx.v
    if v.reason != "signature_mismatch" or v.missing_headers:
        return
    if ctx.forensic and ctx.forensic.get("explained"):
        return  # a more specific finding names the cause
    se = _server_error(ctx)
    if se is not None and getattr(se, "canonical_request", None) and v.canonical_request:
        return  # SECRET_MISMATCH or SERVER_CANONICAL_DIFF says more
    scheme = "SigV2" if v.auth.scheme == "sigv2" else "signature"
    yield _f(
        "SIGNATURE_MISMATCH",
        "error",
        f"The {scheme} recomputed from this request with the secret of {v.auth.access_key_id} ({v.credential_source}) does not match the one sent.",
        "Compare the record's canonical request (sigv4.explain, or the AWS Signature view) with the one your SDK logged (botocore: boto3.set_stream_logger('botocore.auth')); check the secret key and anything that edits the request after signing.",
        signature=fingerprint(v.auth.signature) if v.auth.signature else None,
    )


@rule
def unknown_access_key(ctx: Context) -> Iterable[Finding]:
    if ctx.v.reason == "unknown_access_key":
        yield _f(
            "UNKNOWN_ACCESS_KEY",
            "warning",
            f"No secret is known for access key {ctx.auth.access_key_id}, so the signature was not checked.",
            "Run the proxy with the profile that signs (AWS_PROFILE, --set sigv4_credentials=FILE), or let the STS/IMDS response that issued the key pass through the proxy.",
            access_key_id=ctx.auth.access_key_id,
        )


@rule
def unsigned_payload(ctx: Context) -> Iterable[Finding]:
    p = ctx.v.payload_line or ctx.auth.payload or ""
    if p in ("UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"):
        yield _f(
            "UNSIGNED_PAYLOAD",
            "info",
            f"The payload is not covered by the signature ({p}).",
            "",
            payload=p,
        )


@rule
def unsigned_request(ctx: Context) -> Iterable[Finding]:
    if ctx.auth.scheme == "none":
        yield _f(
            "UNSIGNED_REQUEST",
            "info",
            f"This request to the AWS endpoint {ctx.req.host} carries no signature.",
            "If AWS answers 'Missing Authentication Token' or 403, give the client credentials (or this is a public/anonymous call).",
        )


FORENSIC_CODES = {
    "path": (
        "URI_ENCODING",
        "Make the client and every hop send the path exactly as it was signed (S3: encoded once; other services: normalised and encoded twice by the signer).",
    ),
    "query": (
        "QUERY_ENCODING",
        "Build the query with the SDK (or encode it exactly as signed): every parameter as key=value, percent-encoded once.",
    ),
    "host": (
        "HOST_MISMATCH",
        "Sign the Host exactly as it is sent: keep or drop the port consistently (endpoint_url vs the Host a proxy forwards).",
    ),
    "header": (
        "HEADER_MODIFIED",
        "Send the signed header byte-for-byte as signed: stop the library or hop that rewrites it, or do not sign it.",
    ),
    "payload": (
        "PAYLOAD_HASH_MISMATCH",
        "Sign the exact body that is sent (x-amz-content-sha256 must be its SHA-256, or UNSIGNED-PAYLOAD where the service allows it).",
    ),
    "secret": (
        "SECRET_MISMATCH",
        "Strip whitespace and quotes from the secret access key where it is stored (env var, credentials file, secret manager).",
    ),
}


@rule
def forensic_cause(ctx: Context) -> Iterable[Finding]:
    fz = ctx.forensic
    if not fz or not fz.get("explained"):
        return
    if fz["kind"] == "header" and (fz.get("evidence") or {}).get("header") in ctx.v.missing_headers:
        return  # SIGNED_HEADER_MISSING names the value
    code, fix = FORENSIC_CODES[fz["kind"]]
    ev = dict(fz.get("evidence") or {})
    ev.update(where="inferred", variant=fz["description"], tried=fz.get("tried"))
    yield _f(code, "error", f"The signature matches only if {fz['description']}.", fix, **ev)


# --- rules on the request alone -----------------------------------------------------------


@rule
def sigv2(ctx: Context) -> Iterable[Finding]:
    if ctx.auth.scheme != "sigv2":
        return
    ua = _user_agent(ctx)
    if ua.lower().startswith("boto/2") or "boto/2." in ua.lower():
        fix = "Upgrade boto 2 to >= 2.49 and set '[s3] use-sigv4 = True' (or S3_USE_SIGV4=True), or move to boto3."
    elif "botocore" in ua.lower() or "boto3" in ua.lower():
        fix = "Create the client with Config(signature_version='s3v4') (or remove signature_version='s3' from the config/profile)."
    else:
        fix = "Switch the client to Signature Version 4 (signature_version = s3v4 / AWS4-HMAC-SHA256)."
    ok = {
        "valid": " (its signature is correct)",
        "invalid": " (and its signature does not match)",
    }.get(ctx.v.verdict, "")
    yield _f(
        "SIGV2_DEPRECATED",
        "error",
        f"The request uses Signature Version 2{ok}, which S3 regions opened after 2014, China regions and new buckets refuse.",
        fix,
        user_agent=ua[:120],
    )


@rule
def hop_by_hop_signed(ctx: Context) -> Iterable[Finding]:
    signed = [h for h in ctx.auth.signed_headers if h in HOP_BY_HOP or h.startswith("proxy-")]
    if not signed:
        return
    te = "transfer-encoding" in signed
    fix = (
        "Upgrade botocore to 1.36.7 or later (boto3 >= 1.36.7), or set request_checksum_calculation=when_required / AWS_REQUEST_CHECKSUM_CALCULATION=when_required."
        if te
        else "Do not sign hop-by-hop headers: remove them from the signer's header list."
    )
    yield _f(
        "HOP_BY_HOP_SIGNED",
        "warning",
        f"SignedHeaders includes {', '.join(signed)}, which any proxy or CDN may legally change or drop.",
        fix,
        headers=signed,
    )


@rule
def volatile_header_signed(ctx: Context) -> Iterable[Finding]:
    signed = [h for h in ctx.auth.signed_headers if h in VOLATILE]
    if "range" in ctx.auth.signed_headers and ctx.req.header("via"):
        signed.append("range")
    if signed:
        yield _f(
            "VOLATILE_HEADER_SIGNED",
            "warning",
            f"SignedHeaders includes {', '.join(signed)}, which proxies, CDNs, tracing agents or browsers commonly rewrite.",
            "Sign only the headers AWS needs (host, x-amz-*, content-type, content-md5); exclude these from the signer.",
            headers=signed,
        )


@rule
def unsigned_amz_header(ctx: Context) -> Iterable[Finding]:
    if ctx.service not in ("s3", "s3-object-lambda") or ctx.auth.location != "header":
        return
    signed = set(ctx.auth.signed_headers)
    # S3 requires every x-amz-* header to be signed, the session token included
    unsigned = sorted(
        k
        for k in ctx.req.header_names()
        if k.startswith("x-amz-") and k not in signed and k != "x-amz-content-sha256"
    )
    if unsigned:
        yield _f(
            "UNSIGNED_AMZ_HEADER",
            "error",
            f"The S3 request carries {', '.join(unsigned)} outside SignedHeaders; S3 answers AccessDenied (HeadersNotSigned).",
            "Add these headers before signing (typical: the session token or x-amz-acl added after the signer ran).",
            headers=unsigned,
        )


@rule
def security_token_missing(ctx: Context) -> Iterable[Finding]:
    akid = ctx.auth.access_key_id or ""
    if akid.startswith("ASIA") and not ctx.auth.session_token:
        yield _f(
            "SECURITY_TOKEN_MISSING",
            "error",
            f"The temporary access key {akid} is used without X-Amz-Security-Token.",
            "Pass the session token with the key (AWS_SESSION_TOKEN / aws_session_token), and sign it.",
            access_key_id=akid,
        )


@rule
def sts_tokens(ctx: Context) -> Iterable[Finding]:
    token = ctx.auth.session_token
    if not token:
        return
    fmt = token_format(token)
    learned = ctx.token_issuer
    # the issuing host decides when it is an AWS STS host; otherwise (a local or custom
    # STS endpoint) the token's format is the evidence
    if learned and is_aws_host(learned):
        from_global = is_global_sts_host(learned)
    else:
        learned = None
        from_global = fmt == "v1"
    if not from_global:
        return
    basis = (
        f"the STS response that issued it came from {learned}"
        if learned
        else "its format (v1, global-endpoint; the format is observed, not specified)"
    )
    tok = describe_token(token)
    fix = "Create the STS client with a region, or set AWS_STS_REGIONAL_ENDPOINTS=regional (config sts_regional_endpoints = regional), then get new credentials."
    if ctx.auth.scheme == "sigv4a":
        yield _f(
            "STS_GLOBAL_TOKEN_SIGV4A",
            "error",
            f"This SigV4a request carries a session token issued by the global STS endpoint (known from {basis}); SigV4a refuses such tokens with UnsupportedSignature.",
            fix,
            token=tok,
            basis="learned" if learned else "format",
        )
    scope_region = ctx.auth.scope.region if ctx.auth.scope else None
    if scope_region and _is_opt_in_region(scope_region):
        yield _f(
            "STS_GLOBAL_TOKEN_OPT_IN_REGION",
            "error",
            f"A global-endpoint (v1) session token is used in the opt-in region {scope_region} (known from {basis}); AWS answers AuthFailure / InvalidClientTokenId.",
            fix + " Or set the account's IAM GlobalEndpointTokenVersion to v2Token.",
            token=tok,
            region=scope_region,
        )


_OPT_IN = {
    "af-south-1",
    "ap-east-1",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "ap-east-2",
}


def _is_opt_in_region(region: str) -> bool:
    return region in _OPT_IN


@rule
def credentials_expiry(ctx: Context) -> Iterable[Finding]:
    cred = ctx.v.credential
    if cred is None or cred.expiry is None:
        return
    when = parse_amz_date(ctx.auth.amz_date) or ctx.now
    if cred.expiry <= when:
        yield _f(
            "CREDENTIALS_EXPIRED",
            "error",
            f"The temporary credentials {cred.access_key_id} ({cred.source}) expired at {cred.expiry.isoformat()}, before this request was signed.",
            "Refresh the credentials (the SDK does this itself when it owns the provider; cached copies in env vars or files do not refresh).",
            expiry=cred.expiry.isoformat(),
        )
    if ctx.auth.location == "query" and ctx.auth.expires and ctx.auth.expires.isdigit():
        url_end = when + timedelta(seconds=int(ctx.auth.expires))
        if url_end > cred.expiry:
            yield _f(
                "PRESIGN_OUTLIVES_CREDENTIALS",
                "warning",
                f"The URL claims validity until {url_end.isoformat()}, but the credentials that signed it expire at {cred.expiry.isoformat()}; it stops working then.",
                "Presign with long-term IAM user keys for URLs that must live longer, or shorten ExpiresIn.",
                url_expiry=url_end.isoformat(),
                credential_expiry=cred.expiry.isoformat(),
            )


@rule
def presign_window(ctx: Context) -> Iterable[Finding]:
    if ctx.auth.location != "query" or ctx.auth.scheme not in ("sigv4", "sigv4a"):
        return
    start = parse_amz_date(ctx.auth.amz_date)
    exp = ctx.auth.expires
    if exp is not None and exp.isdigit() and int(exp) > MAX_PRESIGN:
        yield _f(
            "PRESIGN_EXPIRES_TOO_LONG",
            "error",
            f"X-Amz-Expires is {exp} seconds; AWS refuses presigned URLs valid for more than 604800 (7 days).",
            "Generate the URL with ExpiresIn <= 604800.",
            expires=int(exp),
        )
        return
    if start is None or exp is None or not exp.isdigit():
        return
    ref, basis = _reference_time(ctx)
    end = start + timedelta(seconds=int(exp))
    if ref > end:
        yield _f(
            "PRESIGN_EXPIRED",
            "error",
            f"The presigned URL expired at {end.isoformat()} ({_ago(ref - end)} before it was used, by the {basis}).",
            "Generate a fresh URL closer to its use, or with a longer ExpiresIn (at most 7 days; no longer than the signing credentials live).",
            expired_at=end.isoformat(),
            reference=basis,
        )
    elif start - ref > timedelta(minutes=15):
        yield _f(
            "PRESIGN_NOT_YET_VALID",
            "error",
            f"The presigned URL's X-Amz-Date is {_ago(start - ref)} in the future by the {basis}.",
            "Fix the clock of the machine that generated the URL (NTP).",
            starts_at=start.isoformat(),
        )


def _ago(d: timedelta) -> str:
    s = int(abs(d.total_seconds()))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _reference_time(ctx: Context) -> tuple[datetime, str]:
    se = ctx.response.server_error if ctx.response else None
    st = getattr(se, "server_time", None)
    if isinstance(st, datetime):
        return st, "server's ServerTime"
    if ctx.response is not None:
        d = parse_amz_date(ctx.response.header("date"))
        if d is not None:
            return d, "server's Date header"
    return ctx.now, "proxy clock"


@rule
def clock_skew(ctx: Context) -> Iterable[Finding]:
    if ctx.auth.location != "header" or ctx.auth.scheme not in ("sigv4", "sigv4a"):
        return
    signed_at = parse_amz_date(ctx.auth.amz_date)
    if signed_at is None:
        return
    window = S3_SKEW if ctx.service in ("s3", "s3-object-lambda", "s3express") else DEFAULT_SKEW
    # Signed long before it reached the proxy, while this client's other requests were
    # current: a queued or retried request, not a wrong clock.
    lag = ctx.now - signed_at
    if lag > DEFAULT_SKEW and ctx.client_clock_ok:
        yield _f(
            "SIGNED_TOO_EARLY",
            "error" if lag > window else "warning",
            f"x-amz-date is {_ago(lag)} older than the moment the proxy received the request, while other requests from this client are current: it was signed long before it was sent.",
            "Sign right before sending: do not queue signed requests or retry with an old signature (re-sign on retry).",
            lag_seconds=int(lag.total_seconds()),
        )
        return
    ref, basis = _reference_time(ctx)
    skew = signed_at - ref
    if abs(skew) <= DEFAULT_SKEW and abs(skew) <= window:
        return
    direction = "ahead of" if skew > timedelta(0) else "behind"
    sev = "error" if abs(skew) > window else "warning"
    yield _f(
        "CLOCK_SKEW",
        sev,
        f"The request was signed at {signed_at.isoformat()}, {_ago(skew)} {direction} the {basis} (this service allows {int(window.total_seconds() // 60)} min).",
        "Synchronise the client's clock (NTP / chrony); in containers and VMs check the host clock.",
        skew_seconds=int(skew.total_seconds()),
        reference=basis,
        window_seconds=int(window.total_seconds()),
    )


@rule
def scope_checks(ctx: Context) -> Iterable[Finding]:
    auth = ctx.auth
    if auth.scheme not in ("sigv4", "sigv4a") or auth.scope is None:
        return
    sc = auth.scope
    if sc.terminator != "aws4_request":
        yield _f(
            "SCOPE_TERMINATOR",
            "error",
            f"The credential scope ends in '{sc.terminator}' instead of 'aws4_request'.",
            "Fix the signer: the scope is DATE/REGION/SERVICE/aws4_request.",
            terminator=sc.terminator,
        )
    if auth.amz_date and re.match(r"^\d{8}T", auth.amz_date) and auth.amz_date[:8] != sc.date:
        yield _f(
            "SCOPE_DATE_MISMATCH",
            "error",
            f"The scope date {sc.date} differs from the date of x-amz-date ({auth.amz_date[:8]}).",
            "Derive the scope date from the same timestamp as x-amz-date (UTC).",
            scope_date=sc.date,
            amz_date=auth.amz_date,
        )
    info = host_info(ctx.req.host)
    if not info.is_aws:
        return
    if info.mrap and auth.scheme == "sigv4":
        yield _f(
            "MRAP_REQUIRES_SIGV4A",
            "error",
            "This Multi-Region Access Point request is signed with SigV4; MRAP requires SigV4a (AWS4-ECDSA-P256-SHA256).",
            "Install awscrt (pip install 'botocore[crt]') so botocore signs MRAP requests with SigV4a, or use an SDK with SigV4a support.",
        )
    if info.service and sc.service != info.service:
        yield _f(
            "SCOPE_SERVICE_MISMATCH",
            "error",
            f"The scope names service '{sc.service}' but {ctx.req.host} is signed as '{info.service}'.",
            f"Sign for service '{info.service}' (e.g. 'es' for OpenSearch domains, 'aoss' for Serverless, 'execute-api' for API Gateway).",
            scope_service=sc.service,
            host_service=info.service,
        )
    if info.region and sc.region and sc.region != info.region and auth.scheme == "sigv4":
        yield _f(
            "SCOPE_REGION_MISMATCH",
            "error",
            f"The scope names region '{sc.region}' but {ctx.req.host} is in '{info.region}'.",
            f"Create the client with region_name='{info.region}' (or the endpoint of region '{sc.region}').",
            scope_region=sc.region,
            host_region=info.region,
        )


@rule
def checksum_defaults_unsupported(ctx: Context) -> Iterable[Finding]:
    req = ctx.req
    if is_aws_host(req.host) or ctx.service not in ("s3", None):
        return
    markers = []
    if (req.header("content-encoding") or "").lower().find("aws-chunked") >= 0 and req.header(
        "x-amz-trailer"
    ):
        markers.append("aws-chunked with a checksum trailer")
    if (ctx.auth.payload or "") == "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
        markers.append("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    for lk in req.header_names():
        if lk == "x-amz-sdk-checksum-algorithm" or (
            lk.startswith("x-amz-checksum-") and lk != "x-amz-checksum-mode"
        ):
            markers.append(lk)
    if not markers or ctx.auth.scheme == "none":
        return
    yield _f(
        "CHECKSUM_DEFAULTS_UNSUPPORTED",
        "warning",
        f"This upload to the non-AWS S3-compatible endpoint {req.host} uses the SDK integrity defaults of 2025 ({', '.join(dict.fromkeys(markers))}), which many such stores reject.",
        "Set AWS_REQUEST_CHECKSUM_CALCULATION=when_required and AWS_RESPONSE_CHECKSUM_VALIDATION=when_required (or request_checksum_calculation / response_checksum_validation = when_required in the client config); some servers also need Content-MD5.",
        markers=list(dict.fromkeys(markers)),
    )


@rule
def transfer_encoding_unsupported(ctx: Context) -> Iterable[Finding]:
    req = ctx.req
    if ctx.service not in ("s3",) or not is_aws_host(req.host):
        return
    te = (req.header("transfer-encoding") or "").lower()
    if (
        "chunked" in te
        and "aws-chunked" not in (req.header("content-encoding") or "").lower()
        and req.method in ("PUT", "POST")
    ):
        yield _f(
            "TRANSFER_ENCODING_UNSUPPORTED",
            "error",
            "This S3 upload uses plain Transfer-Encoding: chunked without aws-chunked; S3 answers NotImplemented (Transfer-Encoding).",
            "Give the client a body of known length (Content-Length): read the stream into bytes or a file, or pass ContentLength.",
        )


# --- inside the proxy -------------------------------------------------------------------


@rule
def in_proxy_changes(ctx: Context) -> Iterable[Finding]:
    for ch in ctx.proxy_changes:
        if not ch.signed:
            continue
        if ch.part == "host":
            yield _f(
                "HOST_MISMATCH",
                "error",
                f"The proxy changed Host from '{ch.client}' to '{ch.upstream}' ({ch.cause}) after the client signed it.",
                "Set keep_host_header (reverse mode) or remove the map_remote rule for AWS hosts.",
                where="in-proxy",
                client=ch.client,
                upstream=ch.upstream,
                cause=ch.cause,
            )
        elif ch.part in ("path", "query"):
            yield _f(
                "URI_ENCODING",
                "error",
                f"The proxy changed the request {ch.part} from '{ch.client}' to '{ch.upstream}' ({ch.cause}) after signing.",
                "Remove the rule that rewrites AWS request URLs.",
                where="in-proxy",
                client=ch.client,
                upstream=ch.upstream,
                cause=ch.cause,
            )
        else:
            yield _f(
                "HEADER_MODIFIED",
                "error",
                f"The proxy changed the signed header '{ch.name}' from {ch.client!r} to {ch.upstream!r} ({ch.cause}); the request left the client valid and reached upstream broken.",
                f"Turn off what changed it ({ch.cause}) for AWS traffic.",
                where="in-proxy",
                header=ch.name,
                client=ch.client,
                upstream=ch.upstream,
                cause=ch.cause,
            )


# --- the server's answer ----------------------------------------------------------------

AUTH_ERROR_CODES = {
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "IncompleteSignature",
    "IncompleteSignatureException",
    "RequestTimeTooSkewed",
    "RequestExpired",
    "AuthorizationHeaderMalformed",
    "AuthorizationQueryParametersError",
    "UnsupportedSignature",
    "InvalidAccessKeyId",
    "InvalidToken",
    "ExpiredToken",
    "ExpiredTokenException",
    "XAmzContentSHA256Mismatch",
    "InvalidClientTokenId",
    "AuthFailure",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "UnrecognizedClientException",
    "InvalidRequest",
    "NotImplemented",
    "InvalidDigest",
    "BadDigest",
    "InvalidChunkSizeError",
}
PERMISSION_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "Forbidden",
    "UnauthorizedException",
}


def _server_error(ctx: Context) -> Any:
    return ctx.response.server_error if ctx.response else None


def _is_auth_error(se: Any) -> bool:
    try:
        from sigv4core.servererror import classify

        return classify(se) not in ("permission_denied", "other")
    except Exception:
        return getattr(se, "code", None) in AUTH_ERROR_CODES


@rule
def server_answer(ctx: Context) -> Iterable[Finding]:
    se = _server_error(ctx)
    if se is None:
        return
    code = getattr(se, "code", None)
    rid = getattr(se, "request_id", None)
    ev = {
        "status": ctx.response.status if ctx.response else None,
        "aws_error_code": code,
        "aws_error_message": (getattr(se, "message", None) or "")[:500],
        "request_id": rid,
    }
    if _is_auth_error(se):
        yield _f(
            "SERVER_REJECTED",
            "error",
            f"AWS refused the request's authentication: {code}: {(getattr(se, 'message', None) or '').splitlines()[0][:200] if getattr(se, 'message', None) else ''}".rstrip(
                ": "
            ),
            _server_fix(ctx, se),
            **ev,
        )
    elif code in PERMISSION_CODES or (ctx.response and ctx.response.status in (401, 403)):
        yield _f(
            "PERMISSION_DENIED",
            "info",
            f"The server answered {code or ctx.response.status if ctx.response else code}: an authorization (policy) denial, not a signature problem.",
            "Check the IAM policy, bucket policy, SCPs and KMS key policy for this principal and action.",
            **ev,
        )


def _classify(se: Any) -> str:
    try:
        from sigv4core.servererror import classify

        return str(classify(se))
    except Exception:
        return "other"


@rule
def server_says_wrong_region(ctx: Context) -> Iterable[Finding]:
    se = _server_error(ctx)
    if se is None or _classify(se) != "wrong_region" or ctx.auth.scope is None:
        return
    want = getattr(se, "expected_region", None)
    have = ctx.auth.scope.region
    yield _f(
        "SCOPE_REGION_MISMATCH",
        "error",
        f"The server refused the scope's region '{have}'"
        + (f"; it expects '{want}'." if want else "."),
        (
            f"Create the client with region_name='{want}'."
            if want
            else "Create the client with the region of the endpoint it calls (region_name / AWS_REGION)."
        ),
        scope_region=have,
        expected_region=want,
        basis="server",
    )


def _server_fix(ctx: Context, se: Any) -> str:
    code = getattr(se, "code", "")
    region = getattr(se, "expected_region", None)
    if region:
        return f"Sign for region '{region}': create the client with region_name='{region}'."
    if _classify(se) == "wrong_region":
        return (
            "Create the client with the region of the endpoint it calls (region_name / AWS_REGION)."
        )
    if code == "UnsupportedSignature":
        return "Use a session token from a regional STS endpoint (AWS_STS_REGIONAL_ENDPOINTS=regional) for SigV4a."
    if code in ("RequestTimeTooSkewed", "RequestExpired"):
        return "Synchronise the client's clock (NTP)."
    if code in ("InvalidAccessKeyId", "InvalidClientTokenId", "UnrecognizedClientException"):
        return "The access key does not exist in this partition/account (deleted, rotated, or the wrong endpoint): check the profile in use."
    if code in ("ExpiredToken", "ExpiredTokenException", "InvalidToken"):
        return "Refresh the temporary credentials and send their session token."
    return "See the findings above for what differs between what was signed and what the server received."


@rule
def server_canonical_diff(ctx: Context) -> Iterable[Finding]:
    se = _server_error(ctx)
    server_creq = getattr(se, "canonical_request", None) if se else None
    local = ctx.v.canonical_request
    if not server_creq or not local:
        return
    if server_creq == local:
        if (
            ctx.v.verdict == "valid"
            or ctx.v.missing_headers
            or (ctx.forensic or {}).get("explained")
        ):
            return
        yield _f(
            "SECRET_MISMATCH",
            "error",
            "The server computed the same canonical request as the proxy, yet the signature differs: the secret used to sign is not the one AWS has for this key.",
            "Check the secret key (rotated? stray whitespace or newline in the file or variable?) and that the access key id and secret belong together.",
        )
        return
    if ctx.v.verdict == "valid" and server_creq == local:
        return
    try:
        from sigv4core.servererror import canonical_diff

        diff = canonical_diff(local, server_creq)
    except Exception:
        diff = []
    parts = "; ".join(
        f"{d.get('part')} {d.get('name') or ''}: sent {d.get('local')!r}, server saw {d.get('server')!r}".replace(
            "  ", " "
        )
        for d in diff[:5]
    )
    yield _f(
        "SERVER_CANONICAL_DIFF",
        "error",
        f"The server's canonical request differs from the one the proxy saw: {parts or 'see evidence'}.",
        "A hop after the proxy changed these parts; make it forward them unchanged, or stop signing them.",
        diff=diff,
        where="after-proxy",
    )
    for d in diff:
        if d.get("part") == "header" and d.get("name") == "host":
            yield _f(
                "HOST_MISMATCH",
                "error",
                f"The server received Host {d.get('server')!r} but the client signed {d.get('local')!r}.",
                "Make the hop after the proxy keep the Host header (no added/removed port).",
                where="after-proxy",
                client=d.get("local"),
                upstream=d.get("server"),
            )
        elif d.get("part") == "header":
            yield _header_changed_after_proxy(ctx, d)
        elif d.get("part") in ("uri", "path"):
            yield _f(
                "URI_ENCODING",
                "error",
                f"The server's canonical URI is {d.get('server')!r}, the signed one {d.get('local')!r}.",
                "A hop re-encoded or rewrote the path after signing.",
                where="after-proxy",
            )
        elif d.get("part") == "query":
            yield _f(
                "QUERY_ENCODING",
                "error",
                f"The server's canonical query differs for {d.get('name')!r}: {d.get('server')!r} vs signed {d.get('local')!r}.",
                "A hop re-encoded the query string after signing.",
                where="after-proxy",
            )


def _hop_name(ctx: Context) -> str | None:
    if ctx.response is None:
        return None
    if ctx.response.header("cf-ray"):
        return "Cloudflare"
    return ctx.response.header("via") or None


def _header_changed_after_proxy(ctx: Context, d: dict[str, Any]) -> Finding:
    name = str(d.get("name"))
    local, server = d.get("local"), d.get("server")
    hop = _hop_name(ctx)
    who = (
        f"the hop after the proxy ({hop})"
        if hop
        else "a hop after the proxy (CDN, load balancer, S3 accelerate edge)"
    )
    label = "-".join(p.capitalize() for p in name.split("-"))
    what = "stripped" if server in (None, "") else f"changed to {server!r}"
    if name in HOP_BY_HOP:
        te = name == "transfer-encoding"
        return _f(
            "HEADER_MODIFIED",
            "error",
            f"{who[0].upper() + who[1:]} {what} {label} (sent as {local!r}), which your SDK signed; intermediaries may legally do that to a hop-by-hop header.",
            "Upgrade to botocore >= 1.36.7 (boto3 >= 1.36.7), which no longer signs Transfer-Encoding, or set AWS_REQUEST_CHECKSUM_CALCULATION=when_required."
            if te
            else f"Stop signing {label}: it is hop-by-hop and may change on the way.",
            where="after-proxy",
            header=name,
            client=local,
            upstream=server,
            hop=hop,
        )
    return _f(
        "HEADER_MODIFIED",
        "error",
        f"The signed header {label} reached the server {('without it' if server in (None, '') else 'as ' + repr(server))}, not as {local!r} as signed: {who} rewrites it.",
        f"Make {who} forward {label} unchanged, or do not sign it.",
        where="after-proxy",
        header=name,
        client=local,
        upstream=server,
        hop=hop,
    )


@rule
def changed_after_proxy(ctx: Context) -> Iterable[Finding]:
    se = _server_error(ctx)
    if se is None or ctx.v.verdict != "valid" or getattr(se, "canonical_request", None):
        return
    if _classify(se) != "signature_mismatch":
        return
    suspects = []
    host = ctx.req.host
    if "host" in ctx.auth.signed_headers:
        suspects.append(f"Host '{host}' (a hop adding or removing the port)")
    for h in ctx.auth.signed_headers:
        if h in HOP_BY_HOP or h in VOLATILE or h == "content-type":
            suspects.append(f"signed header '{h}'")
    suspects.append("the path (a prefix stripped or re-encoded)")
    hop = None
    if ctx.response:
        hop = (
            ctx.response.header("via")
            or ctx.response.header("server")
            or ("Cloudflare" if ctx.response.header("cf-ray") else None)
        )
    yield _f(
        "CHANGED_AFTER_PROXY",
        "error",
        "The request verified here, yet the server rejected its signature: a hop after the proxy changed it"
        + (f" (the response names {hop})" if hop else "")
        + f"; first suspects: {suspects[0]}.",
        "Send the request straight to AWS to confirm, then configure the hop to forward signed headers, Host and path unchanged.",
        suspects=suspects,
        hop=hop,
        where="after-proxy",
    )


def diagnose(ctx: Context) -> list[Finding]:
    """Run every rule; a rule that fails is skipped (it never breaks the record)."""
    out: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for r in RULES:
        try:
            for f in r(ctx):
                key = (f.code, f.message)
                if key not in seen:
                    seen.add(key)
                    out.append(f)
        except Exception as exc:  # a broken rule must not hide the others
            out.append(_f("INTERNAL", "info", f"rule {r.__name__} failed: {type(exc).__name__}"))
    order = {"error": 0, "warning": 1, "info": 2}
    out.sort(key=lambda f: order.get(f.severity, 3))
    return out
