"""Authentication as AWS's front ends do it: parse the signature fields (Authorization
header or presigned query), check scope, credentials, tokens and time, refuse unsigned
``x-amz-*`` headers on S3, then verify the signature with :mod:`.sigv4`. Each failure is
raised as :class:`AuthError` carrying the protocol's error response (see :mod:`.errors`)."""

from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from . import sigv2, sigv4
from .model import (
    AMZ_FMT,
    MAX_PRESIGN_EXPIRES,
    OPT_IN_REGIONS,
    SKEW_SECONDS,
    V1_TOKEN_PREFIXES,
    AuthError,
    ReceivedRequest,
    Route,
    SigInfo,
)
from .sigv4 import SIGV4, SIGV4A

if TYPE_CHECKING:
    from .errors import ErrorFactory
    from .server import FakeAWS


class Malformed(Exception):
    pass


def parse_authorization(value: str) -> dict[str, str]:
    """Split ``ALG Credential=..., SignedHeaders=..., Signature=...``. Raises Malformed."""
    alg, _, rest = value.strip().partition(" ")
    fields: dict[str, str] = {"algorithm": alg}
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise Malformed(
                f"'{part}' not a valid key=value pair (missing equal-sign) in Authorization header"
            )
        k, _, v = part.partition("=")
        fields[k.strip()] = v.strip()
    return fields


def parse_credential(cred: str, algorithm: str) -> tuple[str, str, str | None, str, str]:
    parts = cred.split("/")
    if algorithm == SIGV4A and len(parts) == 4:
        return parts[0], parts[1], None, parts[2], parts[3]
    if len(parts) != 5:
        raise Malformed("the Credential is mal-formed")
    return parts[0], parts[1], parts[2], parts[3], parts[4]


def extract_sig(req: ReceivedRequest, err: ErrorFactory) -> SigInfo | None:
    """Parse the signature fields; None for an anonymous request."""
    auth = req.header("authorization")
    query = sigv4.query_dict(req.query)
    if auth is not None:
        if sigv2.is_sigv2_header(auth):
            raise AuthError(err.sigv2())
        try:
            f = parse_authorization(auth)
        except Malformed as e:
            raise AuthError(err.malformed(str(e), auth)) from None
        alg = f["algorithm"]
        if alg not in (SIGV4, SIGV4A):
            raise AuthError(err.malformed(f"Unsupported AWS 'algorithm': '{alg}'", auth))
        missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in f]
        if missing:
            raise AuthError(
                err.malformed(
                    " ".join(f"Authorization header requires '{k}' parameter." for k in missing),
                    auth,
                )
            )
        try:
            akid, date, region, service, term = parse_credential(f["Credential"], alg)
        except Malformed as e:
            raise AuthError(err.malformed(str(e), auth)) from None
        amz_date = req.header("x-amz-date")
        if amz_date is None and req.header("date"):
            try:
                amz_date = parsedate_to_datetime(req.header("date") or "").strftime(AMZ_FMT)
            except (TypeError, ValueError):
                amz_date = None
        if amz_date is None:
            raise AuthError(
                err.malformed(
                    "Authorization header requires existence of either a 'X-Amz-Date' or "
                    "a 'Date' header.",
                    auth,
                )
            )
        return SigInfo(
            algorithm=alg,
            access_key=akid,
            date=date,
            region=region,
            service=service,
            terminator=term,
            signed_headers=[h.strip().lower() for h in f["SignedHeaders"].split(";")],
            signature=f["Signature"],
            amz_date=amz_date,
            presigned=False,
            token=req.header("x-amz-security-token"),
            region_set=req.header("x-amz-region-set"),
        )
    if sigv2.is_sigv2_query(query):
        raise AuthError(err.sigv2())
    if "X-Amz-Algorithm" in query or "X-Amz-Credential" in query:
        alg = query.get("X-Amz-Algorithm", "")
        needed = [
            "X-Amz-Algorithm",
            "X-Amz-Credential",
            "X-Amz-Signature",
            "X-Amz-Date",
            "X-Amz-SignedHeaders",
            "X-Amz-Expires",
        ]
        missing = [k for k in needed if k not in query]
        if missing or alg not in (SIGV4, SIGV4A):
            raise AuthError(
                err.query_params(
                    "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                    "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                    "and X-Amz-Expires parameters."
                )
            )
        try:
            akid, date, region, service, term = parse_credential(query["X-Amz-Credential"], alg)
            expires = int(query["X-Amz-Expires"])
        except (Malformed, ValueError):
            raise AuthError(
                err.query_params(
                    "Error parsing the X-Amz-Credential parameter; the Credential is "
                    'mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
                )
            ) from None
        return SigInfo(
            algorithm=alg,
            access_key=akid,
            date=date,
            region=region,
            service=service,
            terminator=term,
            signed_headers=[h.strip().lower() for h in query["X-Amz-SignedHeaders"].split(";")],
            signature=query["X-Amz-Signature"],
            amz_date=query["X-Amz-Date"],
            presigned=True,
            expires=expires,
            token=query.get("X-Amz-Security-Token"),
            region_set=query.get("X-Amz-Region-Set"),
            payload_hash=query.get("X-Amz-Content-Sha256"),
        )
    return None


def authenticate(
    state: FakeAWS, req: ReceivedRequest, route: Route, host: str, err: ErrorFactory
) -> SigInfo:
    """Verify the request or raise AuthError with the protocol's error response."""
    sig = extract_sig(req, err)
    if sig is None:
        raise AuthError(err.anonymous())
    # Scope checks.
    if sig.terminator != "aws4_request":
        raise AuthError(
            err.scope(
                f"incorrect terminal '{sig.terminator}'. This endpoint uses 'aws4_request'.",
                None,
            )
        )
    if sig.amz_date[:8] != sig.date:
        raise AuthError(
            err.scope("Invalid credential date. Date is not the same as X-Amz-Date.", None)
        )
    if sig.service != route.service:
        raise AuthError(
            err.scope(
                f"incorrect service '{sig.service}'. This endpoint belongs to '{route.service}'.",
                None,
            )
        )
    if sig.algorithm == SIGV4 and route.region and sig.region != route.region:
        raise AuthError(
            err.scope(
                f"the region '{sig.region}' is wrong; expecting '{route.region}'",
                route.region,
            )
        )
    if sig.presigned and sig.expires is not None and sig.expires > MAX_PRESIGN_EXPIRES:
        raise AuthError(
            err.query_params("X-Amz-Expires must be less than a week (in seconds) that is 604800")
        )
    # Credentials.
    with state.lock:
        secret = state.credentials.get(sig.access_key)
        temp = state.temp_credentials.get(sig.access_key)
    if temp is not None:
        if not sig.token:
            raise AuthError(err.unknown_key(sig.access_key))
        if sig.token != temp.token:
            raise AuthError(err.invalid_token(sig.token))
        if state.now() >= temp.expiration:
            raise AuthError(err.expired_token(sig.token))
        secret = temp.secret_key
    elif secret is None:
        raise AuthError(err.unknown_key(sig.access_key))
    elif sig.token:
        raise AuthError(err.invalid_token(sig.token))
    if sig.token and sig.token.startswith(V1_TOKEN_PREFIXES):
        if sig.algorithm == SIGV4A:
            raise AuthError(err.unsupported_signature())
        if sig.region in OPT_IN_REGIONS:
            raise AuthError(err.invalid_token(sig.token))
    # Time.
    try:
        req_time = dt.datetime.strptime(sig.amz_date, AMZ_FMT).replace(tzinfo=dt.UTC)
    except ValueError:
        raise AuthError(
            err.malformed(f"Invalid X-Amz-Date '{sig.amz_date}'", req.header("authorization"))
        ) from None
    now = state.now()
    if sig.presigned:
        expiry = req_time + dt.timedelta(seconds=sig.expires or 0)
        if now > expiry:
            raise AuthError(err.presign_expired(sig.expires or 0, expiry, now))
        if req_time - now > dt.timedelta(seconds=SKEW_SECONDS[route.service]):
            raise AuthError(err.skew(sig.amz_date, req_time, now))
    elif abs((now - req_time).total_seconds()) > SKEW_SECONDS[route.service]:
        raise AuthError(err.skew(sig.amz_date, req_time, now))
    # Unsigned x-amz-* headers (S3 refuses them), except x-amz-content-sha256, which S3
    # accepts unsigned: scality/Arsenal#2590 ("In practice AWS does not require
    # x-amz-content-sha256 to be signed"), zengularity/benji#309, demarche-numerique/ds_proxy#164.
    if route.service == "s3":
        unsigned = sorted(
            {
                k.lower()
                for k, _ in req.headers
                if k.lower().startswith("x-amz-")
                and k.lower() not in sig.signed_headers
                and k.lower() != "x-amz-content-sha256"
            }
        )
        if unsigned:
            raise AuthError(err.headers_not_signed(unsigned))
        # [DOC-S3] "x-amz-content-sha256 ... is required for all AWS Signature Version 4
        # requests"; S3's answer without it: 400 InvalidRequest "Missing required header for
        # this request: x-amz-content-sha256" (avi-wish/aws4-signature-php#1 quotes the XML,
        # awslabs/aws-sdk-rust#291 the status and code, request/request#2708, aws/aws-cli#2138).
        if not sig.presigned and req.header("x-amz-content-sha256") is None:
            raise AuthError(
                err.invalid_request(
                    "Missing required header for this request: x-amz-content-sha256"
                )
            )
    if "host" not in sig.signed_headers and sig.algorithm == SIGV4:
        raise AuthError(err.signature_mismatch(sig, None))
    sig.secret = secret
    result = verify(req, sig)
    if not result.ok:
        raise AuthError(err.signature_mismatch(sig, result))
    return sig


def verify(req: ReceivedRequest, sig: SigInfo) -> sigv4.Verification:
    """Verify ``req``'s signature the way AWS computes it (:func:`.sigv4.verify_request`)."""
    return sigv4.verify_request(
        sigv4.SignedRequest(req.method, req.path, req.query, req.headers, req.body),
        algorithm=sig.algorithm,
        access_key=sig.access_key,
        secret=sig.secret,
        date=sig.date,
        region=sig.region,
        service=sig.service,
        amz_date=sig.amz_date,
        signed_headers=sig.signed_headers,
        signature=sig.signature,
        presigned=sig.presigned,
        presigned_hash=sig.payload_hash,
    )
