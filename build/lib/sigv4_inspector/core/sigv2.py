"""Signature Version 2: S3's HMAC-SHA1 scheme (``Authorization: AWS AKID:sig`` and
``AWSAccessKeyId``/``Signature``/``Expires`` query) and the query-service scheme
(``SignatureVersion=2``). Recognised and verified so the tool can say the signature is
right but the scheme is refused.
"""

from __future__ import annotations

import base64
import hmac
import re

from sigv4_inspector.core.canonical import percent_decode, split_query, uri_encode
from sigv4_inspector.core.model import ParsedAuth, WireRequest

# Sub-resources and overrides that are part of S3's CanonicalizedResource (botocore HmacV1).
S3_SUBRESOURCES = frozenset(
    [
        "accelerate",
        "acl",
        "cors",
        "defaultObjectAcl",
        "location",
        "logging",
        "partNumber",
        "policy",
        "requestPayment",
        "torrent",
        "versioning",
        "versionId",
        "versions",
        "website",
        "uploads",
        "uploadId",
        "response-content-type",
        "response-content-language",
        "response-expires",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "delete",
        "lifecycle",
        "tagging",
        "restore",
        "storageClass",
        "notification",
        "replication",
        "analytics",
        "metrics",
        "inventory",
        "select",
        "select-type",
        "object-lock",
        "legal-hold",
        "retention",
    ]
)

_VHOST = re.compile(r"^(?P<bucket>.+?)\.s3[.-]", re.IGNORECASE)


def s3_canonical_resources(req: WireRequest) -> list[str]:
    """Candidate CanonicalizedResource strings: path-style, and virtual-host style with the
    bucket taken from Host."""
    path = req.path or "/"
    subs: list[tuple[str, str | None]] = []
    for name, value in split_query(req.raw_query):
        key = percent_decode(name).decode("utf-8", "replace")
        if key in S3_SUBRESOURCES:
            # a raw '+' is a space to S3 (awsmodel E6)
            val = (
                None
                if value is None
                else percent_decode(value, plus_is_space=True).decode("utf-8", "replace")
            )
            subs.append((key, val))
    subs.sort(key=lambda kv: kv[0])
    qs = "&".join(k if v is None else f"{k}={v}" for k, v in subs)
    suffix = f"?{qs}" if qs else ""
    out = [path + suffix]
    if path.count("/") == 1 and len(path) > 1:
        out.append(path + "/" + suffix)  # botocore's auth_path for bucket operations: /bucket/
    host = req.host.split(":", 1)[0]
    m = _VHOST.match(host)
    if m:
        out.append("/" + m.group("bucket") + path + suffix)
    return out


def s3_string_to_sign(req: WireRequest, auth: ParsedAuth, resource: str) -> str:
    """METHOD, Content-MD5, Content-Type, Date (Expires when presigned), x-amz-* headers,
    resource; as botocore's HmacV1Auth builds it."""
    date = (auth.expires or "") if auth.location == "query" else (req.header("date") or "").strip()
    lines = [
        req.method.upper(),
        (req.header("content-md5") or "").strip(),
        (req.header("content-type") or "").strip(),
        date,
    ]
    amz: dict[str, list[str]] = {}
    for name, value in req.headers:
        lname = name.lower()
        if lname.startswith("x-amz-"):
            amz.setdefault(lname, []).append(value.strip())
    if auth.location == "query":
        # A presigned URL carries the x-amz-* headers it signed (the session token above all)
        # as query parameters, and S3 reads them back as such headers (botocore
        # HmacV1QueryAuth._inject_signature; S3 RESTAuthentication "Query string request
        # authentication": x-amz-security-token is part of the string to sign).
        for qname, qvalue in split_query(req.raw_query):
            lname = percent_decode(qname).decode("utf-8", "replace").lower()
            if lname.startswith("x-amz-") and lname not in amz:
                qval = percent_decode(qvalue or "").decode("utf-8", "surrogateescape")
                amz.setdefault(lname, []).append(qval.strip())
    custom = "".join(f"{k}:{','.join(amz[k])}\n" for k in sorted(amz))
    return "\n".join(lines) + "\n" + custom + resource


def query_string_to_sign(req: WireRequest) -> str:
    """Query services' SigV2: METHOD\\nhost\\npath\\nsorted encoded query without Signature."""
    pairs = []
    for name, value in split_query(req.raw_query):
        k = percent_decode(name)
        if k == b"Signature":
            continue
        pairs.append((uri_encode(k), uri_encode(percent_decode(value or ""))))
    pairs.sort()
    query = "&".join(f"{k}={v}" for k, v in pairs)
    return "\n".join([req.method.upper(), req.host.lower(), req.path or "/", query])


def _hmac_b64(secret: str, msg: str, digestmod: str) -> str:
    mac = hmac.new(secret.encode("utf-8"), msg.encode("utf-8", "surrogateescape"), digestmod)
    return base64.b64encode(mac.digest()).decode()


def verify_sigv2(req: WireRequest, auth: ParsedAuth, secret: str) -> tuple[bool, str]:
    """Check a SigV2 signature; returns (matches, string to sign used/tried first)."""
    provided = auth.signature.strip()
    is_query_service = auth.location == "query" and any(
        percent_decode(k) == b"SignatureVersion" for k, _ in split_query(req.raw_query)
    )
    if is_query_service:
        sts = query_string_to_sign(req)
        digest = "sha1" if auth.algorithm == "HmacSHA1" else "sha256"
        return hmac.compare_digest(_hmac_b64(secret, sts, digest), provided), sts
    candidates = [s3_string_to_sign(req, auth, r) for r in s3_canonical_resources(req)]
    for sts in candidates:
        if hmac.compare_digest(_hmac_b64(secret, sts, "sha1").encode(), provided.encode()):
            return True, sts
    return False, candidates[0]
