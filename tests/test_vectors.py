"""The verifier against AWS's public signing test suites (../shared/vectors): aws-c-auth
v4 and v4a (header and query), botocore's aws4_testsuite and the S3 documentation examples,
including aws-chunked uploads with chunk and trailer signatures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sigv4_inspector.core import keys
from sigv4_inspector.core.model import Credential, DictKeyring, WireRequest
from sigv4_inspector.core.verify import verify
from sigv4_testsupport.vectors import (
    S3,
    S3_KEYRING,
    CrtCase,
    botocore_cases,
    crt_cases,
    parse_http,
    s3_request,
)

AKID, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
KEYRING = DictKeyring([Credential(AKID, SECRET, source="test")])

V4 = [c for c in crt_cases("v4")]
V4A = [c for c in crt_cases("v4a") if c.has("public-key.json")]
CASES = [(c, t) for c in V4 + V4A for t in ("header", "query")]


def _ids(p: tuple[CrtCase, str]) -> str:
    return f"{p[0].kind}/{p[0].name}/{p[1]}"


def test_suite_sizes() -> None:
    assert len(V4) == 38 and len(V4A) == 38
    assert len(botocore_cases()) == 34


@pytest.mark.parametrize("case,sigtype", CASES, ids=[_ids(p) for p in CASES])
def test_aws_c_auth_case(case: CrtCase, sigtype: str) -> None:
    req = parse_http(case.read(f"{sigtype}-signed-request.txt"))
    # post-sts-header-after signs a presigned URL with the token left out (omit_session_token):
    # the form AWS IoT accepts (awsmodel E7); other services include the token.
    omit = bool(case.context.get("omit_session_token")) and sigtype == "query"
    v = verify(
        req,
        KEYRING,
        s3_rules=not case.context.get("normalize", True),
        token_outside_signature=omit or None,
    )
    assert v.canonical_request == case.read(f"{sigtype}-canonical-request.txt").decode()
    assert v.string_to_sign == case.read(f"{sigtype}-string-to-sign.txt").decode()
    assert v.verdict == "valid", (v.reason, v.detail)
    assert v.auth.scheme == ("sigv4a" if case.kind == "v4a" else "sigv4")
    assert v.auth.location == sigtype
    expected_sig = case.read(f"{sigtype}-signature.txt").decode()
    sts = case.read(f"{sigtype}-string-to-sign.txt").decode()
    if case.kind == "v4":
        key = keys.signing_key(SECRET, "20150830", "us-east-1", "service")
        assert keys.sigv4_signature(key, sts) == expected_sig
    else:
        pub = keys.sigv4a_private_key(AKID, SECRET).public_key()
        assert keys.sigv4a_verify(pub, sts, expected_sig)
        assert not keys.sigv4a_verify(pub, sts + "x", expected_sig)
        want = json.loads(case.read("public-key.json"))
        assert keys.sigv4a_public_xy(AKID, SECRET) == (want["X"].lower(), want["Y"].lower())


@pytest.mark.parametrize("case,sigtype", CASES, ids=[_ids(p) for p in CASES])
def test_aws_c_auth_tampered(case: CrtCase, sigtype: str) -> None:
    req = parse_http(case.read(f"{sigtype}-signed-request.txt"))
    # change the value of the Host header (signed in every case) or of a signed header
    for target_header in ("host", "my-header1", "x-amz-date"):
        headers = [(k, v + "0" if k.lower() == target_header else v) for k, v in req.headers]
        tampered = WireRequest.build(req.method, req.target, headers, req.body)
        v = verify(tampered, KEYRING, s3_rules=not case.context.get("normalize", True))
        if req.header(target_header) is not None:
            assert v.verdict == "invalid", target_header
    # and one byte of the path
    tampered = WireRequest.build(
        req.method, req.target.replace("/", "/x", 1) + "", req.headers, req.body
    )
    v = verify(tampered, KEYRING, s3_rules=not case.context.get("normalize", True))
    if not case.name.startswith(("get-relative", "get-slash")):  # these normalise to '/'
        assert v.verdict == "invalid"


def test_token_outside_signature_only_where_the_service_allows_it() -> None:
    """A presigned URL whose session token was appended after signing verifies for AWS IoT
    (iotdevicegateway) only; elsewhere AWS signs the token, so the same URL is invalid."""
    case = next(c for c in V4 if c.name == "post-sts-header-after")
    req = parse_http(case.read("query-signed-request.txt"))
    assert verify(req, KEYRING).verdict == "invalid"
    assert verify(req, KEYRING, token_outside_signature=True).verdict == "valid"


def test_v4a_stubs_do_not_crash() -> None:
    for case in crt_cases("v4a"):
        if not case.has("public-key.json"):
            v = verify(parse_http(case.read("request.txt")), KEYRING)
            assert v.verdict == "unsigned"


BOTO = botocore_cases()


@pytest.mark.parametrize("name,stem", BOTO, ids=[b[0] for b in BOTO])
def test_botocore_suite(name: str, stem: Path) -> None:
    sreq = stem.with_suffix(".sreq").read_bytes()
    req = parse_http(sreq)
    v = verify(req, KEYRING)
    assert v.canonical_request == stem.with_suffix(".creq").read_text()
    assert v.string_to_sign == stem.with_suffix(".sts").read_text()
    authz = stem.with_suffix(".authz").read_text()
    if name == "get-vanilla-with-session-token":
        # Known bad .sreq (README): its Authorization carries get-vanilla's signature.
        assert v.verdict == "invalid" and v.reason == "signature_mismatch"
        fixed = [(k, authz) if k.lower() == "authorization" else (k, val) for k, val in req.headers]
        req = WireRequest.build(req.method, req.target, fixed, req.body)
        v = verify(req, KEYRING)
    assert v.verdict == "valid", (v.reason, v.detail)
    assert req.header("authorization").strip() == authz  # type: ignore[union-attr]


@pytest.mark.parametrize("ex", S3["examples"], ids=[e["id"] for e in S3["examples"]])
def test_s3_examples(ex: dict) -> None:  # type: ignore[type-arg]
    req = s3_request(ex)
    v = verify(req, S3_KEYRING)
    assert v.canonical_request == ex["expected"]["canonical_request"]
    assert v.string_to_sign == ex["expected"]["string_to_sign"]
    assert v.verdict == "valid", (v.reason, v.detail)
    if "chunks" in ex["body"]:
        assert v.chunks_verified == len(ex["body"]["chunks"])
        assert v.decoded_length == ex["body"]["decoded_length"]
        if ex["body"].get("encoded_length"):
            assert len(req.body or b"") == ex["body"]["encoded_length"]
    if "trailer" in ex["body"]:
        assert v.checksums and all(c.ok for c in v.checksums), v.checksums


def test_s3_chunked_broken_chunk_is_named() -> None:
    ex = next(e for e in S3["examples"] if e["id"] == "s3-put-object-chunked")
    good = s3_request(ex)
    assert good.body is not None
    # flip one data byte inside the second chunk (offset past the first chunk)
    pos = good.body.index(b"400;chunk-signature=") + 100
    bad_body = good.body[:pos] + b"b" + good.body[pos + 1 :]
    v = verify(s3_request(ex, bad_body), S3_KEYRING)
    assert v.verdict == "invalid"
    assert v.reason == "chunk_signature_mismatch" and v.detail["chunk"] == 1
    assert v.chunks_verified == 1


def test_s3_trailer_checksum_and_signature_failures() -> None:
    ex = next(e for e in S3["examples"] if e["id"] == "s3-put-object-chunked-with-trailer")
    good = s3_request(ex)
    assert good.body is not None
    bad = good.body.replace(b"sOO8/Q==", b"AAAAAA==")
    v = verify(s3_request(ex, bad), S3_KEYRING)
    assert v.verdict == "invalid" and v.detail["chunk"] == "trailer"
    assert v.checksums[0].ok is False and v.checksums[0].actual == "sOO8/Q=="


@pytest.mark.parametrize("algorithm", ["crc32", "crc32c", "crc64nvme", "sha256"])
def test_checksums_any_slicing_and_across_the_crc32_engine_switch(algorithm: str) -> None:
    """CRC32 moves from zlib to awscrt after CRT_CRC32_FROM bytes: a body cut anywhere, in
    pieces smaller and larger than that, gives the checksum of the whole."""
    import base64
    import hashlib
    import zlib

    from awscrt import checksums as crt

    from sigv4_inspector.core.checksums import CRT_CRC32_FROM, Checksum, compute

    body = hashlib.sha256(b"seed").digest() * ((3 * CRT_CRC32_FROM) // 32 + 5)
    whole = {
        "crc32": zlib.crc32(body).to_bytes(4, "big"),
        "crc32c": crt.crc32c(body).to_bytes(4, "big"),
        "crc64nvme": crt.crc64nvme(body).to_bytes(8, "big"),
        "sha256": hashlib.sha256(body).digest(),
    }[algorithm]
    expect = base64.b64encode(whole).decode()
    assert compute(algorithm, body) == expect
    for step in (1000, 65536, CRT_CRC32_FROM - 1, 2 * CRT_CRC32_FROM + 3):
        c = Checksum(algorithm)
        for i in range(0, len(body), step):
            c.update(memoryview(body)[i : i + step])
        assert c.b64() == expect, step


def test_s3_chunked_streaming_any_slicing() -> None:
    from sigv4_inspector.core.verify import VerifySession

    ex = next(e for e in S3["examples"] if e["id"] == "s3-put-object-chunked-with-trailer")
    req = s3_request(ex)
    assert req.body is not None
    for step in (1, 7, 4096, 65537):
        s = VerifySession(req, S3_KEYRING)
        for i in range(0, len(req.body), step):
            s.feed(req.body[i : i + step])
        v = s.finish()
        assert v.verdict == "valid" and v.chunks_verified == 3, step
