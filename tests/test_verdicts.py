"""Verdicts that agree with AWS's servers (issue 16): signers' own forms are invalid and
named, the finding that matters comes first, and each new cause fires where it should."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sigv4_inspector.core.codes import Code
from sigv4_inspector.core.inspect import Inspection, inspect_request
from sigv4_inspector.core.model import Credential, DictKeyring, Finding, WireRequest
from sigv4_inspector.core.rank import MAX_FINDINGS, finalize
from sigv4_inspector.core.report import MAX_COMMENT
from sigv4_inspector.core.rules import ProxyChange, Response
from sigv4_inspector.core.servererror import parse_error_response
from sigv4_testsupport.signing import AKID, SECRET, capture, inspect_at_signing, presigned, to_wire

KEYRING = DictKeyring([Credential(AKID, SECRET, source="profile:test")])


def run(req: WireRequest, **kw: Any) -> Inspection:
    return inspect_at_signing(req, KEYRING, **kw)


def codes(insp: Inspection) -> list[str]:
    return [f.code for f in insp.findings]


def botocore_signed(url: str, *, s3: bool = True, method: str = "GET") -> WireRequest:
    """botocore's own signer applied to a pre-built URL: it signs the query pairs and the
    S3 path exactly as given (the raw form AWS does not compute)."""
    req = AWSRequest(method=method, url=url, data=b"")
    creds = Credentials(AKID, SECRET)
    (S3SigV4Auth if s3 else SigV4Auth)(creds, "s3" if s3 else "execute-api", "us-east-1").add_auth(
        req
    )
    p = req.prepare()
    return to_wire(p.method, p.url, p.headers, p.body)


def test_botocore_on_a_prebuilt_url_with_raw_query_characters_is_invalid() -> None:
    req = botocore_signed("https://bucket.s3.us-east-1.amazonaws.com/?prefix=star*&delimiter=a:b")
    insp = run(req)
    assert insp.verification.verdict == "invalid"
    assert insp.headline is not None and insp.headline.code == Code.QUERY_ENCODING
    f = insp.headline
    assert "`:` and `*` raw in the query" in f.message and "`%3A` `%2A`" in f.message
    assert "percent-encode every byte outside A-Z a-z 0-9 -_.~" in f.fix
    assert f.evidence["aws_canonical"] == "delimiter=a%3Ab&prefix=star%2A"
    assert f.evidence["signed_canonical"] == "delimiter=a:b&prefix=star*"
    assert insp.record["auth"]["matched_variant"] == "query:as-sent"
    assert "SIGNATURE_MISMATCH" not in codes(insp)
    assert Code.URI_ENCODING not in codes(insp)  # a query change is never URI_ENCODING


def test_raw_path_characters_in_an_s3_key_are_invalid() -> None:
    req = botocore_signed("https://bucket.s3.us-east-1.amazonaws.com/bang!.txt")
    insp = run(req)
    assert insp.verification.verdict == "invalid"
    f = insp.headline
    assert f is not None and f.code == Code.URI_ENCODING
    assert "`!` raw in the path" in f.message and "`%21`" in f.message
    assert f.evidence["aws_canonical"] == "/bang%21.txt"


def test_a_well_encoded_prebuilt_url_stays_valid() -> None:
    req = botocore_signed("https://bucket.s3.us-east-1.amazonaws.com/a%21b.txt?prefix=star%2A")
    insp = run(req)
    assert insp.verification.verdict == "valid", codes(insp)
    assert insp.headline is None or insp.headline.severity == "info"


def test_encode_uri_component_signer_is_named() -> None:
    """A hand-written signer built on encodeURIComponent signs !'()* raw."""
    from sigv4_inspector.core import canonical as c
    from sigv4_inspector.core.keys import signing_key, sigv4_signature

    base = capture("s3", lambda cl: cl.list_objects_v2(Bucket="bucket", Prefix="it's (a)*!"))
    v = run(base).verification
    assert v.canonical_request is not None and "%27s%20%28a%29%2A%21" in v.canonical_request
    creq = v.canonical_request.replace("%27s%20%28a%29%2A%21", "'s%20(a)*!")
    sts = c.string_to_sign("AWS4-HMAC-SHA256", v.auth.amz_date or "", str(v.auth.scope), creq)
    sig = sigv4_signature(signing_key(SECRET, v.auth.scope.date, "us-east-1", "s3"), sts)  # type: ignore[union-attr]
    authz = (base.header("authorization") or "").rsplit("Signature=", 1)[0] + "Signature=" + sig
    req = WireRequest.build(
        base.method,
        base.target,
        [(k, authz if k.lower() == "authorization" else val) for k, val in base.headers],
        base.body,
    )
    insp = run(req)
    f = insp.headline
    assert f is not None and f.code == Code.QUERY_ENCODING
    assert insp.record["auth"]["matched_variant"] == "query:encodeURIComponent"
    assert "replace ! ' ( ) * with %21 %27 %28 %29 %2A" in f.fix


def test_plus_for_space_in_a_presigned_query_is_valid_with_a_warning() -> None:
    """aws4fetch signs a space as %20 and sends it as '+': AWS reads '+' as a space (awsmodel
    E6), so the URL is valid; the record says the verdict rests on that reading."""
    import boto3
    import botocore.config

    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=botocore.config.Config(signature_version="s3v4"),
    )
    url = s3.generate_presigned_url(
        "get_object",
        Params={"Bucket": "b", "Key": "k", "ResponseContentDisposition": "attachment; a b"},
    )
    assert "%20" in url
    insp = run(presigned(url.replace("%20", "+")))
    assert insp.verification.verdict == "valid"
    f = next(f for f in insp.findings if f.code == Code.ENCODING_AMBIGUOUS)
    assert f.severity == "warning" and f.evidence["matches"] == "a space (%20)"
    assert "mhart/aws4fetch#83" in f.evidence["sources"]


def test_s3_without_content_sha256() -> None:
    """curl 7.88 --aws-sigv4 signs S3 requests without x-amz-content-sha256; S3 answers
    400 InvalidRequest (Missing required header)."""
    req = botocore_signed("https://example.execute-api.us-east-1.amazonaws.com/x", s3=False)
    assert req.header("x-amz-content-sha256") is None
    s3req = AWSRequest(method="GET", url="https://bucket.s3.us-east-1.amazonaws.com/k", data=b"")
    SigV4Auth(Credentials(AKID, SECRET), "s3", "us-east-1").add_auth(s3req)
    p = s3req.prepare()
    wire = to_wire(p.method, p.url, p.headers, p.body)
    assert wire.header("x-amz-content-sha256") is None
    insp = run(wire)
    assert insp.verification.verdict == "valid"
    assert insp.headline is not None and insp.headline.code == Code.S3_CONTENT_SHA256_MISSING
    assert Code.S3_CONTENT_SHA256_MISSING not in codes(run(req))


def _response(
    status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None
) -> Response:
    hdrs = headers or []
    se = parse_error_response(status, hdrs, body) if body else None
    return Response(status=status, headers=hdrs, server_error=se, has_body=bool(body))


def test_bodyless_403_to_an_invalid_signature_is_not_permission_denied() -> None:
    req = capture("s3", lambda c: c.head_object(Bucket="bucket", Key="k"))
    bad = WireRequest.build(req.method, req.target.replace("/k", "/other"), req.headers, b"")
    insp = run(bad, response=_response(403))
    assert insp.verification.verdict == "invalid"
    assert Code.PERMISSION_DENIED not in codes(insp)
    assert Code.SERVER_REJECTED in codes(insp)
    # a valid request answered 403 without a body is a policy denial
    ok = run(req, response=_response(403))
    assert Code.PERMISSION_DENIED in codes(ok)


def test_checksum_defaults_not_reported_on_success() -> None:
    req = capture(
        "s3",
        lambda c: c.put_object(Bucket="bucket", Key="k", Body=b"abc", ChecksumAlgorithm="CRC32"),
        endpoint_url="https://minio.local:9000",
    )
    assert Code.CHECKSUM_DEFAULTS_UNSUPPORTED not in codes(run(req, response=_response(200)))
    assert Code.CHECKSUM_DEFAULTS_UNSUPPORTED in codes(run(req, response=_response(501)))
    assert Code.CHECKSUM_DEFAULTS_UNSUPPORTED in codes(run(req))  # no answer yet


def test_query_reordered_in_the_proxy_is_harmless() -> None:
    req = capture("s3", lambda c: c.list_objects_v2(Bucket="bucket", Prefix="p", MaxKeys=5))
    q = req.raw_query
    swapped = "&".join(reversed(q.split("&")))
    change = ProxyChange("query", None, q, swapped, "another addon", True)
    insp = run(req, proxy_changes=[change])
    f = next(f for f in insp.findings if f.code == Code.QUERY_ENCODING)
    assert f.severity == "info" and "harmless" in f.message
    assert insp.marker != ":x:"


def test_a_change_in_the_proxy_is_not_also_changed_after_proxy() -> None:
    req = capture("dynamodb", lambda c: c.list_tables())
    change = ProxyChange(
        "header", "x-amz-target", "DynamoDB_20120810.ListTables", "x", "another addon", True
    )
    body = json.dumps(
        {
            "__type": "com.amazon.coral.service#InvalidSignatureException",
            "message": "The request signature we calculated does not match the signature you provided.",
        }
    ).encode()
    insp = run(req, proxy_changes=[change], response=_response(400, body))
    assert codes(insp)[0] == Code.HEADER_MODIFIED
    assert insp.findings[0].evidence["where"] == "in-proxy"
    assert Code.CHANGED_AFTER_PROXY not in codes(insp)


def test_body_changed_in_the_proxy_is_attributed_to_the_proxy() -> None:
    req = capture("s3", lambda c: c.put_object(Bucket="bucket", Key="k", Body=b"abc"))
    change = ProxyChange("body", None, "3 bytes", "4 bytes", "modify_body option", True)
    insp = run(req, proxy_changes=[change])
    assert insp.headline is not None and insp.headline.code == Code.PAYLOAD_HASH_MISMATCH
    assert insp.headline.evidence["where"] == "in-proxy"
    assert "modify_body option" in insp.headline.message
    assert "secret" not in insp.headline.fix.lower()


def test_sigv2_presigned_url_with_a_session_token_verifies() -> None:
    import boto3
    import botocore.config

    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="ASIAQWERTYUIOPEXAMPL",
        aws_secret_access_key=SECRET,
        aws_session_token="FQoGZXIvYXdzEXAMPLE//token+with/slashes==",
        config=botocore.config.Config(signature_version="s3"),
    )
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
    assert "x-amz-security-token=" in url
    keyring = DictKeyring([Credential("ASIAQWERTYUIOPEXAMPL", SECRET, "FQoGZXIvYXdzEXAMPLE")])
    now = datetime.now(UTC)
    insp = inspect_request(presigned(url), keyring, flow_id="t", url=url, seen_at=now, now=now)
    assert insp.verification.verdict == "valid", insp.findings
    assert insp.headline is not None and insp.headline.code == Code.SIGV2_DEPRECATED


def test_sigv2_refused_by_the_server_headlines_sigv2() -> None:
    """A SigV2 presigned PUT without its signed Content-Type, refused with "Please use
    AWS4-HMAC-SHA256": the server confirms the scheme is the cause."""
    import boto3
    import botocore.config

    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=botocore.config.Config(signature_version="s3"),
    )
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "b", "Key": "k", "ContentType": "text/csv"}
    )
    body = (
        b"<Error><Code>InvalidRequest</Code><Message>The authorization mechanism you have "
        b"provided is not supported. Please use AWS4-HMAC-SHA256.</Message></Error>"
    )
    insp = run(presigned(url, "PUT"), response=_response(400, body))
    assert codes(insp)[0] == Code.SIGV2_DEPRECATED
    assert Code.SIGNED_HEADER_MISSING in codes(insp)
    without = run(presigned(url, "PUT"))
    assert codes(without)[0] == Code.SIGNED_HEADER_MISSING


def test_har_input_leads_with_input_lost_bytes() -> None:
    req = capture("dynamodb", lambda c: c.list_tables())
    changed = WireRequest.build(req.method, req.target, req.headers, b'{"decoded": 1}')
    insp = run(changed, input_source="har")
    assert insp.verification.verdict == "invalid"
    assert codes(insp)[0] == Code.INPUT_LOST_BYTES
    assert Code.INPUT_LOST_BYTES not in codes(run(changed))


def test_record_carries_schema_and_headline() -> None:
    insp = run(capture("sts", lambda c: c.get_caller_identity()))
    assert insp.record["schema"] == 2 and insp.record["headline"] is None
    assert list(insp.record)[:2] == ["schema", "flow_id"]
    req = capture("s3", lambda c: c.get_object(Bucket="bucket", Key="k"))
    bad = WireRequest.build(req.method, req.target, req.headers + (("X-Amz-Acl", "x"),), b"")
    insp = run(bad)
    head = insp.record["headline"]
    assert head == {
        k: insp.record["findings"][0][k] for k in ("code", "severity", "message", "fix")
    }
    # code and fix first (mitmweb's comment column shows the start), then the message
    assert insp.comment.startswith(f"{head['code']} -> {head['fix'][:30]}"), insp.comment
    assert f" | {head['message'][:30]}" in insp.comment and "\n" not in insp.comment
    assert len(insp.comment) <= MAX_COMMENT


def test_findings_are_capped_and_say_so() -> None:
    many = [Finding("HOP_BY_HOP_SIGNED", "warning", f"m{i}", "", {}) for i in range(80)]
    kept, head = finalize(many)
    assert len(kept) == MAX_FINDINGS and kept[-1].code == Code.FINDINGS_TRUNCATED
    assert kept[-1].evidence["left_out"] == 80 - (MAX_FINDINGS - 1)
    assert head is kept[0]


def test_evidence_is_bounded_and_keeps_lengths() -> None:
    f = Finding("SERVER_CANONICAL_DIFF", "error", "m", "", {"diff": ["x" * 100000] * 1000})
    (kept,), _ = finalize([f])
    diff = kept.evidence["diff"]
    assert len(diff) <= 33 and diff[0].endswith("[100000 characters]")
    assert len(json.dumps(kept.as_dict())) < 100000
