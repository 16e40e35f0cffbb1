"""The verifier against requests signed by real signers (botocore with its CRT and its
pure-Python signers, awscrt directly, requests-aws4auth), captured offline by
:mod:`realsigners`.

Every capture must verify ``valid`` with the expected scheme and location; a hypothesis
property test then checks that one mutation of a signed element (a signed header's value,
the path, a signed query value, a body byte the signature or a checksum covers, the
request date) is detected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigv4_inspector.core.model import Credential, DictKeyring, Verification, WireRequest
from sigv4_inspector.core.verify import verify
from sigv4_testsupport.realsigners import Captured, all_captures

CAPTURES: tuple[Captured, ...] = all_captures()
AMZ_DATE = "%Y%m%dT%H%M%SZ"
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_SIGNED_HEADERS = re.compile(r"SignedHeaders=([^,\s]+)")
_CREDENTIAL = re.compile(r"Credential=([^,\s]+)")
# Query parameters whose change is not "a different signed value": the signature itself,
# and the algorithm (which decides whether the request is signed at all).
_UNMUTATED_PARAMS = {"x-amz-signature", "x-amz-algorithm"}
_SUFFIX = st.sampled_from("abcxyz019")


# -- helpers --------------------------------------------------------------------------------


def _header(c: Captured, name: str) -> str | None:
    return next((v for k, v in c.headers if k.lower() == name), None)


def _query_params(c: Captured) -> list[tuple[str, str]]:
    _, _, query = c.target.partition("?")
    return parse_qsl(query, keep_blank_values=True)


def _query_param(c: Captured, name: str) -> str | None:
    return next((v for k, v in _query_params(c) if k.lower() == name.lower()), None)


def amz_date(c: Captured) -> str | None:
    return _header(c, "x-amz-date") or _query_param(c, "X-Amz-Date")


def signing_time(c: Captured) -> datetime | None:
    raw = amz_date(c)
    return datetime.strptime(raw, AMZ_DATE).replace(tzinfo=UTC) if raw else None


def signed_headers(c: Captured) -> list[str]:
    if c.expect_location == "query":
        raw = _query_param(c, "X-Amz-SignedHeaders") or ""
    else:
        m = _SIGNED_HEADERS.search(_header(c, "authorization") or "")
        raw = m.group(1) if m else ""
    return [h for h in raw.split(";") if h]


def service(c: Captured) -> str:
    if c.expect_location == "query":
        cred = _query_param(c, "X-Amz-Credential") or ""
    else:
        m = _CREDENTIAL.search(_header(c, "authorization") or "")
        cred = m.group(1) if m else ""
    parts = cred.split("/")
    return parts[-2] if len(parts) >= 3 else ""


def payload_mode(c: Captured) -> str:
    """The signed payload value: the declared x-amz-content-sha256, else what the verifier
    must assume (UNSIGNED-PAYLOAD for presigned S3, else SHA-256 of the body)."""
    declared = _header(c, "x-amz-content-sha256") or _query_param(c, "X-Amz-Content-Sha256")
    if declared:
        return declared
    if c.expect_location == "query" and service(c) == "s3":
        return "UNSIGNED-PAYLOAD"
    return "sha256-of-body"


def payload_signed(c: Captured) -> bool:
    mode = payload_mode(c)
    return (
        mode == "sha256-of-body"
        or bool(_HEX64.match(mode))
        or (mode.startswith("STREAMING-") and mode != "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    )


def checksum_covered(c: Captured) -> bool:
    """A flexible checksum (trailer or header) covers the body."""
    if "x-amz-checksum-" in (_header(c, "x-amz-trailer") or "").lower():
        return True
    return any(
        k.lower().startswith("x-amz-checksum-") and k.lower() != "x-amz-checksum-mode"
        for k, _ in c.headers
    )


def data_span(c: Captured) -> tuple[int, int]:
    """Where the payload bytes are in the body: all of it, or the first aws-chunked chunk's
    data (so that a flipped byte changes data, not framing)."""
    if "aws-chunked" not in (_header(c, "content-encoding") or "").lower():
        return 0, len(c.body)
    line_end = c.body.find(b"\r\n")
    size = int(c.body[:line_end].split(b";", 1)[0], 16)
    return line_end + 2, line_end + 2 + size


def wire_request(c: Captured) -> WireRequest:
    return WireRequest.build(
        c.method, c.target, c.headers, c.body, authority=c.host, scheme=c.scheme
    )


def keyring(c: Captured) -> DictKeyring:
    return DictKeyring([Credential(c.access_key_id, c.secret, c.token, source="test")])


def run(c: Captured, req: WireRequest | None = None) -> Verification:
    return verify(req or wire_request(c), keyring(c), now=signing_time(c))


def explain(c: Captured, v: Verification) -> str:
    return (
        f"{c.id}: verdict={v.verdict} reason={v.reason} detail={v.detail} "
        f"variant={v.variant}\n--- verifier canonical request ---\n{v.canonical_request}\n"
        f"--- signer canonical request ---\n{c.signer_canonical_request}"
    )


# -- every capture verifies -----------------------------------------------------------------


def test_capture_counts() -> None:
    by_signer: dict[str, int] = {}
    for c in CAPTURES:
        by_signer[c.signer] = by_signer.get(c.signer, 0) + 1
    assert set(by_signer) == {"botocore-crt", "botocore-python", "awscrt", "requests-aws4auth"}
    # CRT mode has the SigV4a (MRAP) and CRC32C cases the pure-Python signers cannot make.
    assert by_signer["botocore-crt"] == by_signer["botocore-python"] + 2
    assert len({c.id for c in CAPTURES}) == len(CAPTURES)


def test_captures_are_signed_now() -> None:
    for c in CAPTURES:
        t = signing_time(c)
        assert t is not None, c.id
        assert abs(datetime.now(UTC) - t) < timedelta(hours=1), c.id


# Captures that AWS rejects (awsmodel): a raw '+' on the wire is a space to AWS (E3, E6),
# and these signers encoded it as %2B (awscrt signs the query and an S3 path as given;
# requests-aws4auth encodes the S3 key's '+' itself while requests sends it raw).
AWS_REJECTS = {
    "awscrt:sigv4-header-s3-get": ("query_encoding", "query:plus-literal"),
    "awscrt:sigv4-header-service-normalised-path": ("query_encoding", "query:plus-literal"),
    "awscrt:sigv4-query-s3-get": ("query_encoding", "query:plus-literal"),
    "awscrt:sigv4-query-service-normalised-path": ("query_encoding", "query:plus-literal"),
    "awscrt:sigv4a-header-s3-get": ("query_encoding", "query:plus-literal"),
    "awscrt:sigv4a-header-service-normalised-path": ("query_encoding", "query:plus-literal"),
    "awscrt:sigv4a-query-s3-get": ("query_encoding", "query:plus-literal"),
    "awscrt:sigv4a-query-service-normalised-path": ("query_encoding", "query:plus-literal"),
    "requests-aws4auth:s3-put": ("path_encoding", "path:plus-literal"),
}


@pytest.mark.parametrize("c", CAPTURES, ids=[c.id for c in CAPTURES])
def test_real_signer_request_verifies(c: Captured) -> None:
    v = run(c)
    if c.id in AWS_REJECTS:
        reason, form = AWS_REJECTS[c.id]
        assert v.verdict == "invalid" and v.reason == reason and v.variant == form, explain(c, v)
        assert v.ambiguity and v.ambiguity[0]["matches"] == "a literal plus (%2B)"
        return
    assert v.verdict == "valid", explain(c, v)
    assert v.auth.scheme == c.expect_scheme, explain(c, v)
    assert v.auth.location == c.expect_location, explain(c, v)
    assert v.auth.access_key_id == c.access_key_id
    for ck in v.checksums:
        assert ck.ok, (c.id, ck)


# -- one mutation is detected ---------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    kind: str
    description: str
    request: WireRequest
    expect: str  # "invalid", or "checksum" (signature still valid, a checksum must fail)


def _replace_header(c: Captured, index: int, value: str) -> list[tuple[str, str]]:
    headers = list(c.headers)
    headers[index] = (headers[index][0], value)
    return headers


def _mutation_kinds(c: Captured) -> list[str]:
    kinds = ["path", "date"]
    present = {k.lower() for k, _ in c.headers}
    if any(h in present for h in signed_headers(c)):
        kinds.append("header")
    if any(k.lower() not in _UNMUTATED_PARAMS for k, _ in _query_params(c)):
        kinds.append("query")
    start, end = data_span(c)
    if end > start and (payload_signed(c) or checksum_covered(c)):
        kinds.append("body")
    return kinds


@st.composite
def mutants(draw: st.DrawFn) -> tuple[Captured, Mutant]:
    c = draw(st.sampled_from(CAPTURES))
    kind = draw(st.sampled_from(_mutation_kinds(c)))
    base = wire_request(c)
    path, sep, query = c.target.partition("?")

    def build(
        target: str = c.target, headers: list[tuple[str, str]] | None = None, body: bytes = c.body
    ) -> WireRequest:
        return WireRequest.build(
            base.method,
            target,
            c.headers if headers is None else headers,
            body,
            authority=base.authority,
            scheme=base.scheme,
        )

    if kind == "header":
        signed = set(signed_headers(c))
        indexes = [i for i, (k, _) in enumerate(c.headers) if k.lower() in signed]
        i = draw(st.sampled_from(indexes))
        name, value = c.headers[i]
        new = value + draw(_SUFFIX)
        return c, Mutant(
            kind,
            f"{name}: {value!r} -> {new!r}",
            build(headers=_replace_header(c, i, new)),
            "invalid",
        )
    if kind == "path":
        new_path = path + draw(_SUFFIX)
        return c, Mutant(
            kind, f"path {path!r} -> {new_path!r}", build(target=new_path + sep + query), "invalid"
        )
    if kind == "query":
        pairs = query.split("&")
        indexes = [
            i
            for i, p in enumerate(pairs)
            if p
            and parse_qsl(p, keep_blank_values=True)
            and parse_qsl(p, keep_blank_values=True)[0][0].lower() not in _UNMUTATED_PARAMS
        ]
        i = draw(st.sampled_from(indexes))
        old = pairs[i]
        pairs[i] = old + draw(_SUFFIX) if "=" in old else f"{old}={draw(_SUFFIX)}"
        return c, Mutant(
            kind,
            f"query {old!r} -> {pairs[i]!r}",
            build(target=path + "?" + "&".join(pairs)),
            "invalid",
        )
    if kind == "body":
        start, end = data_span(c)
        at = draw(st.integers(start, end - 1))
        flip = draw(st.integers(1, 255))
        body = bytearray(c.body)
        body[at] ^= flip
        expect = "invalid" if payload_signed(c) else "checksum"
        return c, Mutant(kind, f"body[{at}] ^= {flip:#x}", build(body=bytes(body)), expect)
    # date: one second later or earlier, in whichever place the request carries it
    stamp = amz_date(c)
    assert stamp is not None
    step = draw(st.sampled_from([1, -1]))
    new = (datetime.strptime(stamp, AMZ_DATE) + timedelta(seconds=step)).strftime(AMZ_DATE)
    if _header(c, "x-amz-date") is not None:
        headers = [(k, new if k.lower() == "x-amz-date" else v) for k, v in c.headers]
        return c, Mutant(
            kind, f"X-Amz-Date header {stamp} -> {new}", build(headers=headers), "invalid"
        )
    target = c.target.replace(f"X-Amz-Date={stamp}", f"X-Amz-Date={new}", 1)
    assert target != c.target
    return c, Mutant(kind, f"X-Amz-Date query {stamp} -> {new}", build(target=target), "invalid")


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutants())
def test_single_mutation_is_detected(case: tuple[Captured, Mutant]) -> None:
    c, m = case
    v = run(c, m.request)
    what = f"{m.kind} mutation ({m.description})\n{explain(c, v)}"
    if m.expect == "invalid":
        assert v.verdict == "invalid", what
    else:
        # The seed signature does not cover an unsigned (checksummed) payload: the signature
        # still verifies, the checksum of the changed bytes must not.
        assert any(not ck.ok for ck in v.checksums), what + f"\nchecksums={v.checksums}"


def test_awscrt_s3_path_signed_as_sent() -> None:
    """awscrt without double encoding signs an S3 path exactly as given (a raw '+'). S3
    reads the key and encodes it again ('+' as %2B, awsmodel E2), so AWS rejects it: the
    verdict is invalid, and the verifier names the form the signer used ('path:as-sent')."""
    import datetime
    import io

    from awscrt import auth, http

    from sigv4_inspector.core.model import Credential, DictKeyring, WireRequest
    from sigv4_inspector.core.verify import verify

    akid, secret = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    host = "bucket.s3.us-east-1.amazonaws.com"
    req = http.HttpRequest("GET", "/a%20b/c+d", http.HttpHeaders([("Host", host)]), io.BytesIO(b""))
    cfg = auth.AwsSigningConfig(
        credentials_provider=auth.AwsCredentialsProvider.new_static(akid, secret),
        region="us-east-1",
        service="s3",
        date=datetime.datetime.now(datetime.UTC),
        use_double_uri_encode=False,
        should_normalize_uri_path=False,
        signed_body_value="UNSIGNED-PAYLOAD",
        signed_body_header_type=auth.AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256,
    )
    signed = auth.aws_sign_request(req, cfg).result(10)
    v = verify(
        WireRequest.build("GET", signed.path, list(signed.headers), b"", authority=host),
        DictKeyring([Credential(akid, secret)]),
    )
    assert v.verdict == "invalid" and v.variant == "path:as-sent"
    assert v.reason == "path_encoding"
    assert v.encoding is not None and ("+", "%20") in v.encoding["raw"]
