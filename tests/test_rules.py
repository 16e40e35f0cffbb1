"""Diagnosis rules on requests signed by real boto3 clients: each code fires on the case
it exists for and stays quiet on the healthy baseline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from sigv4_inspector.core.dates import parse_amz_date
from sigv4_inspector.core.inspect import Inspection
from sigv4_inspector.core.model import Credential, DictKeyring, WireRequest
from sigv4_testsupport.signing import AKID, SECRET, capture, inspect_at_signing, presigned

KEYRING = DictKeyring([Credential(AKID, SECRET, source="profile:test")])


def run(req: WireRequest, now: datetime | None = None, **kw: Any) -> Inspection:
    return inspect_at_signing(req, kw.pop("keyring", KEYRING), now, **kw)


def codes(insp: Inspection) -> set[str]:
    return {f.code for f in insp.findings}


def test_healthy_baseline_has_no_errors() -> None:
    for req in (
        capture("s3", lambda c: c.get_object(Bucket="bucket", Key="a b+c")),
        capture("dynamodb", lambda c: c.list_tables()),
        capture("sts", lambda c: c.get_caller_identity()),
    ):
        insp = run(req)
        assert insp.verification.verdict == "valid"
        assert not [f for f in insp.findings if f.severity != "info"], insp.findings
        assert insp.marker == ""
        assert insp.record["credential_source"] == "profile:test"


@pytest.mark.parametrize("sigver", ["s3v4", None])
def test_presigned_put_without_its_content_type(sigver: str | None) -> None:
    import botocore.config

    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=botocore.config.Config(signature_version=sigver),
    )
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "b", "Key": "k.csv", "ContentType": "text/csv"}
    )
    insp = run(presigned(url, "PUT"))
    assert insp.verification.verdict == "invalid"
    f = next(f for f in insp.findings if f.code == "SIGNED_HEADER_MISSING")
    assert "content-type" in f.message and "Content-Type" in f.fix
    assert insp.marker == ":x:" and insp.comment.startswith(
        "SIGNED_HEADER_MISSING -> Send the header Content-Type"
    )
    assert " invalid" in insp.comment and insp.headline is insp.findings[0]
    # SigV2 URLs name the value; for SigV4 the variant search finds it among common types
    assert "Content-Type: text/csv" in f.fix and "content-type: text/csv" in f.message
    # the same URL with the header verifies
    ok = run(presigned(url, "PUT", [("Content-Type", "text/csv")]))
    assert ok.verification.verdict == "valid"
    assert "Signature=sha256:" in ok.record["url"]


def test_hop_by_hop_signed_transfer_encoding() -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    r = AWSRequest(
        "PUT",
        "https://bucket.s3.amazonaws.com/k",
        data=b"x",
        headers={"Transfer-Encoding": "chunked", "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
    )
    import botocore.auth

    auth = SigV4Auth(Credentials(AKID, SECRET), "s3", "us-east-1")
    saved = list(botocore.auth.SIGNED_HEADERS_BLACKLIST)
    botocore.auth.SIGNED_HEADERS_BLACKLIST[:] = [h for h in saved if h != "transfer-encoding"]
    try:  # what botocore 1.36.0-1.36.5 did: sign transfer-encoding
        auth.add_auth(r)
    finally:
        botocore.auth.SIGNED_HEADERS_BLACKLIST[:] = saved
    p = r.prepare()
    from sigv4_testsupport.signing import to_wire

    insp = run(to_wire(p.method, p.url, p.headers, p.body))
    assert "transfer-encoding" in insp.verification.auth.signed_headers
    f = next(f for f in insp.findings if f.code == "HOP_BY_HOP_SIGNED")
    assert "1.36.7" in f.fix and f.severity == "warning"


def test_temporary_key_without_token() -> None:
    req = capture("sts", lambda c: c.get_caller_identity(), key="ASIAIOSFODNN7EXAMPLE")
    kr = DictKeyring([Credential("ASIAIOSFODNN7EXAMPLE", SECRET, source="env")])
    insp = run(req, keyring=kr)
    assert "SECURITY_TOKEN_MISSING" in codes(insp)


def test_sigv2_from_botocore_s3_signature_version() -> None:
    req = capture("s3", lambda c: c.list_objects(Bucket="bucket"), signature_version="s3")
    insp = run(req, now=datetime.now(UTC))
    assert insp.verification.auth.scheme == "sigv2"
    assert insp.verification.verdict == "valid"
    f = next(f for f in insp.findings if f.code == "SIGV2_DEPRECATED")
    assert "s3v4" in f.fix


def test_clock_skew_and_scope_region() -> None:
    req = capture(
        "dynamodb",
        lambda c: c.list_tables(),
        region="eu-west-1",
        endpoint_url="https://dynamodb.us-east-1.amazonaws.com",
    )
    signed_at = parse_amz_date(req.header("x-amz-date"))
    assert signed_at is not None
    insp = run(req, now=signed_at + timedelta(minutes=20))
    c = codes(insp)
    assert {"CLOCK_SKEW", "SCOPE_REGION_MISMATCH"} <= c
    skew = next(f for f in insp.findings if f.code == "CLOCK_SKEW")
    assert skew.severity == "error" and skew.evidence["skew_seconds"] == -1200
    assert "us-east-1" in next(f for f in insp.findings if f.code == "SCOPE_REGION_MISMATCH").fix


def test_presign_windows() -> None:
    import botocore.config

    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=botocore.config.Config(signature_version="s3v4"),
    )
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60)
    req = presigned(url)
    start = datetime.now(UTC)
    assert "PRESIGN_EXPIRED" in codes(run(req, now=start + timedelta(hours=2)))
    long = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=700000
    )
    assert "PRESIGN_EXPIRES_TOO_LONG" in codes(run(presigned(long)))


def test_tampered_header_and_unknown_key() -> None:
    req = capture("dynamodb", lambda c: c.list_tables())
    bad = WireRequest.build(
        req.method,
        req.target,
        [(k, v + "x" if k.lower() == "x-amz-target" else v) for k, v in req.headers],
        req.body,
        authority=req.authority,
    )
    insp = run(bad)
    assert insp.verification.verdict == "invalid" and "SIGNATURE_MISMATCH" in codes(insp)
    other = run(req, keyring=DictKeyring())
    assert other.verification.verdict == "unverified" and "UNKNOWN_ACCESS_KEY" in codes(other)
    assert other.marker == ":warning:"


@pytest.mark.parametrize(
    "token,expect", [("FQoGZXIvYXdz" + "A" * 340, True), ("IQoJb3JpZ2luX2Vj" + "B" * 800, False)]
)
def test_sigv4a_with_global_token(token: str, expect: bool) -> None:
    req = capture(
        "s3",
        lambda c: c.get_object(
            Bucket="arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap", Key="k"
        ),
        token=token,
    )
    insp = run(req)
    assert insp.verification.auth.scheme == "sigv4a"
    assert insp.verification.verdict == "valid", insp.verification.reason
    assert ("STS_GLOBAL_TOKEN_SIGV4A" in codes(insp)) is expect
    for line in [insp.comment, str(insp.record)]:
        assert token not in line


def test_mrap_with_sigv4() -> None:
    req = capture(
        "s3",
        lambda c: c.get_object(Bucket="b", Key="k"),
        endpoint_url="https://mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com",
    )
    assert "MRAP_REQUIRES_SIGV4A" in codes(run(req))


def test_permission_denial_is_not_a_signature_problem() -> None:
    from sigv4_inspector.core.inspect import parse_response

    req = capture("s3", lambda c: c.get_object(Bucket="bucket", Key="k"))
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message>'
        b"<RequestId>R1</RequestId><HostId>H</HostId></Error>"
    )
    insp = run(req, response=parse_response(403, [("Content-Type", "application/xml")], body))
    f = next(f for f in insp.findings if f.code == "PERMISSION_DENIED")
    assert f.severity == "info" and "not a signature problem" in f.message
    assert "SERVER_REJECTED" not in codes(insp)
    assert insp.record["response"] == {
        "status": 403,
        "aws_error_code": "AccessDenied",
        "aws_error_message": "Access Denied",
    }


def _with_signed(req: WireRequest, extra: str) -> WireRequest:
    auth = req.header("authorization") or ""
    hdrs = [
        (
            k,
            auth.replace("SignedHeaders=", f"SignedHeaders={extra};")
            if k.lower() == "authorization"
            else v,
        )
        for k, v in req.headers
    ]
    return WireRequest.build(req.method, req.target, hdrs, req.body, authority=req.authority)


def test_changed_after_proxy_names_the_hop() -> None:
    from sigv4_inspector.core.inspect import parse_response

    req = capture("dynamodb", lambda c: c.list_tables())
    body = b'{"__type":"com.amazon.coral.service#InvalidSignatureException","message":"The request signature we calculated does not match the signature you provided."}'
    resp = parse_response(
        400, [("Content-Type", "application/x-amz-json-1.0"), ("Via", "1.1 corp-proxy")], body
    )
    insp = run(req, response=resp)
    assert insp.verification.verdict == "valid"
    f = next(f for f in insp.findings if f.code == "CHANGED_AFTER_PROXY")
    assert f.evidence["hop"] == "1.1 corp-proxy" and "Host" in f.evidence["suspects"][0]


def test_changed_after_proxy_to_a_server_that_is_not_aws_names_its_canonicalisation() -> None:
    """A valid request an S3-compatible store rejects: the hop stays a suspect, and the
    message says the store may canonicalise differently from AWS (the verdict is AWS's)."""
    from sigv4_inspector.core.inspect import parse_response

    req = capture(
        "s3",
        lambda c: c.list_objects_v2(Bucket="b", Prefix="a+b"),
        endpoint_url="http://minio.local:9000",
    )
    body = b"<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message></Error>"
    resp = parse_response(403, [("Content-Type", "application/xml")], body)
    insp = run(req, response=resp)
    assert insp.verification.verdict == "valid"
    f = next(f for f in insp.findings if f.code == "CHANGED_AFTER_PROXY")
    assert "is not AWS" in f.message and "S3-compatible" in f.fix
    assert f.evidence["server_is_aws"] is False


def test_checksum_trailer_mismatch() -> None:
    req = capture("s3", lambda c: c.put_object(Bucket="b", Key="k", Body=b"hello world" * 10))
    assert req.header("x-amz-content-sha256") == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    body = bytearray(req.body or b"")
    body[body.index(b"\r\n") + 2] ^= 1  # one data byte; the trailer keeps the old CRC
    bad = WireRequest.build(
        req.method, req.target, req.headers, bytes(body), authority=req.authority
    )
    insp = run(bad)
    f = next(f for f in insp.findings if f.code == "CHECKSUM_MISMATCH")
    assert f.evidence["location"] == "trailer" and f.evidence["algorithm"] == "crc32"


def test_presign_not_yet_valid_and_outlives_credentials() -> None:
    import botocore.config

    tmp = ("ASIAEXAMPLETEMPKEY01", "tmpsecrettmpsecrettmpsecret", "IQoJb3JpZ2luX2Vj" + "Q" * 700)
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=tmp[0],
        aws_secret_access_key=tmp[1],
        aws_session_token=tmp[2],
        config=botocore.config.Config(signature_version="s3v4"),
    )
    req = presigned(
        s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=7200)
    )
    expiry = datetime.now(UTC) + timedelta(minutes=30)
    kr = DictKeyring(
        [Credential(tmp[0], tmp[1], tmp[2], source="learned:sts-assume-role", expiry=expiry)]
    )
    c = codes(run(req, keyring=kr, now=datetime.now(UTC)))
    assert "PRESIGN_OUTLIVES_CREDENTIALS" in c
    assert "PRESIGN_NOT_YET_VALID" in codes(
        run(req, keyring=kr, now=datetime.now(UTC) - timedelta(hours=1))
    )


def test_scope_date_and_terminator() -> None:
    req = capture("sts", lambda c: c.get_caller_identity())
    amz = req.header("x-amz-date") or ""
    day = f"{(int(amz[6:8]) % 28) + 1:02d}"
    moved = WireRequest.build(
        req.method,
        req.target,
        [(k, amz[:6] + day + amz[8:] if k.lower() == "x-amz-date" else v) for k, v in req.headers],
        req.body,
        authority=req.authority,
    )
    assert "SCOPE_DATE_MISMATCH" in codes(run(moved, now=datetime.now(UTC)))
    term = WireRequest.build(
        req.method,
        req.target,
        [(k, v.replace("/aws4_request", "/aws4_requests")) for k, v in req.headers],
        req.body,
        authority=req.authority,
    )
    assert "SCOPE_TERMINATOR" in codes(run(term))


def test_plain_chunked_upload_to_s3() -> None:
    req = capture(
        "s3",
        lambda c: c.put_object(Bucket="b", Key="k", Body=b"x"),
        request_checksum_calculation="when_required",
    )
    hdrs = [(k, v) for k, v in req.headers if k.lower() != "content-length"] + [
        ("Transfer-Encoding", "chunked")
    ]
    insp = run(WireRequest.build(req.method, req.target, hdrs, req.body, authority=req.authority))
    f = next(f for f in insp.findings if f.code == "TRANSFER_ENCODING_UNSUPPORTED")
    assert "known length" in f.fix


def test_volatile_header_signed() -> None:
    req = _with_signed(capture("dynamodb", lambda c: c.list_tables()), "accept-encoding")
    f = next(f for f in run(req).findings if f.code == "VOLATILE_HEADER_SIGNED")
    assert f.severity == "warning" and f.evidence["headers"] == ["accept-encoding"]
