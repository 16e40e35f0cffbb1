"""One test per corpus tag (../shared/spec/corpus.md): a request signed by a real boto3
client, altered the way the reported failures altered it, must get the finding code the
tag maps to, with a fix."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.config
import pytest

from sigv4_inspector.core.dates import parse_amz_date
from sigv4_inspector.core.inspect import parse_response
from sigv4_inspector.core.model import Credential, DictKeyring, WireRequest
from sigv4_inspector.core.rules import ProxyChange
from sigv4_testsupport.signing import AKID, SECRET, capture, inspect_at_signing, presigned

KEYRING = DictKeyring([Credential(AKID, SECRET, source="profile:test")])


def alter(
    req: WireRequest,
    *,
    target: str | None = None,
    set_h: dict[str, str | None] | None = None,
    add: list[tuple[str, str]] | None = None,
    body: bytes | None = None,
) -> WireRequest:
    headers = []
    for k, v in req.headers:
        if set_h and k.lower() in set_h:
            nv = set_h[k.lower()]
            if nv is not None:
                headers.append((k, nv))
        else:
            headers.append((k, v))
    headers += add or []
    return WireRequest.build(
        req.method,
        target or req.target,
        headers,
        req.body if body is None else body,
        authority=req.authority,
    )


def run(
    req: WireRequest, *, keyring: Any = KEYRING, now: datetime | None = None, **kw: Any
) -> set[str]:
    insp = inspect_at_signing(req, keyring, now, **kw)
    for f in insp.findings:
        if f.severity == "error":
            assert f.fix, f"{f.code} has no fix"
    return {f.code for f in insp.findings}


def s3v4(**kw: Any) -> Any:
    return boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=botocore.config.Config(signature_version="s3v4"),
        **kw,
    )


def ddb() -> WireRequest:
    return capture("dynamodb", lambda c: c.list_tables())


def s3_echo(canonical: str) -> Any:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The request '
        f"signature we calculated does not match the signature you provided. Check your key and signing method."
        f"</Message><CanonicalRequest>{canonical}</CanonicalRequest><RequestId>R</RequestId></Error>"
    ).encode()
    return parse_response(403, [("Content-Type", "application/xml")], body)


def case_host_mismatch() -> set[str]:
    req = ddb()
    return run(alter(req, set_h={"host": req.host + ":443"}))


def case_header_modified_in_transit() -> set[str]:
    req = ddb()
    change = ProxyChange("header", "accept-encoding", "identity", "gzip", "anticomp option", True)
    return run(req, proxy_changes=[change])


def case_hop_by_hop_signed() -> set[str]:
    req = ddb()
    # botocore 1.36.0-1.36.5 listed transfer-encoding in SignedHeaders
    auth = req.header("authorization") or ""
    req = alter(
        req,
        set_h={"authorization": auth.replace("SignedHeaders=", "SignedHeaders=transfer-encoding;")},
    )
    return run(req)


def case_path_rewritten() -> set[str]:
    req = capture(
        "s3", lambda c: c.get_object(Bucket="bucket", Key="k"), s3={"addressing_style": "path"}
    )
    codes = set()
    from sigv4_inspector.core.verify import verify

    v = verify(req, KEYRING)
    assert v.canonical_request
    server = v.canonical_request.replace("\n/bucket/k\n", "\n/k\n", 1)  # a proxy stripped /bucket
    assert server != v.canonical_request
    codes |= run(req, response=s3_echo(server))
    return codes


def case_client_modified_after_signing() -> set[str]:
    req = ddb()
    return run(
        alter(req, set_h={"content-type": (req.header("content-type") or "") + "; charset=UTF-8"})
    )


def case_payload_hash_mismatch() -> set[str]:
    return run(alter(ddb(), body=b'{"Limit": 5}'))


def case_checksum_trailer_unsupported() -> set[str]:
    req = capture(
        "s3",
        lambda c: c.put_object(Bucket="b", Key="k", Body=b"x"),
        endpoint_url="https://minio.internal:9000",
        s3={"addressing_style": "path"},
    )
    return run(req)


def case_presign_content_type() -> set[str]:
    url = s3v4().generate_presigned_url(
        "put_object", Params={"Bucket": "b", "Key": "k", "ContentType": "text/csv"}
    )
    return run(presigned(url, "PUT", [("Content-Type", "application/octet-stream")]))


def case_presign_signed_header() -> set[str]:
    url = s3v4().generate_presigned_url(
        "put_object", Params={"Bucket": "b", "Key": "k", "ACL": "public-read"}
    )
    return run(presigned(url, "PUT"))


def case_presign_expiry() -> set[str]:
    return run(
        presigned(
            s3v4().generate_presigned_url(
                "get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=900000
            )
        )
    )


def case_token_expired() -> set[str]:
    kr = DictKeyring(
        [
            Credential(
                "ASIAEXAMPLEEXPIRED01",
                SECRET,
                "tok",
                source="learned:imds",
                expiry=datetime.now(UTC) - timedelta(minutes=5),
            )
        ]
    )
    req = capture(
        "sts", lambda c: c.get_caller_identity(), key="ASIAEXAMPLEEXPIRED01", token="tok" * 30
    )
    return run(req, keyring=kr)


def case_token_missing() -> set[str]:
    # the token header added after signing: present, unsigned, on S3
    req = capture("s3", lambda c: c.list_buckets())
    return run(alter(req, add=[("X-Amz-Security-Token", "IQoJb3JpZ2luX2Vj" + "A" * 700)]))


def case_token_version_sigv4a() -> set[str]:
    req = capture(
        "s3",
        lambda c: c.get_object(Bucket="b", Key="k"),
        endpoint_url="https://b.s3.amazonaws.com",
        signature_version="s3v4a",
        token="FQoGZXIvYXdz" + "B" * 340,
    )
    return run(req)


def case_token_version_optin() -> set[str]:
    req = capture(
        "sts",
        lambda c: c.get_caller_identity(),
        region="af-south-1",
        token="FwoGZXIvYXdz" + "C" * 340,
    )
    return run(req)


def case_clock_skew() -> set[str]:
    req = ddb()
    signed = parse_amz_date(req.header("x-amz-date"))
    assert signed
    return run(req, now=signed + timedelta(minutes=9))


def case_signed_too_early() -> set[str]:
    req = ddb()
    signed = parse_amz_date(req.header("x-amz-date"))
    assert signed
    return run(req, now=signed + timedelta(minutes=12), client_clock_ok=True)


def case_scope_region() -> set[str]:
    return run(
        capture(
            "dynamodb",
            lambda c: c.list_tables(),
            region="us-west-2",
            endpoint_url="https://dynamodb.eu-central-1.amazonaws.com",
        )
    )


def case_scope_service() -> set[str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    r = AWSRequest("GET", "https://abc123.us-east-1.aoss.amazonaws.com/_cat/indices")
    SigV4Auth(Credentials(AKID, SECRET), "es", "us-east-1").add_auth(r)  # 'es' instead of 'aoss'
    p = r.prepare()
    from sigv4_testsupport.signing import to_wire

    return run(to_wire(p.method, p.url, p.headers, p.body))


def case_uri_encoding() -> set[str]:
    # API Gateway encodes the path as received once more (awsmodel E4): a hop that sends
    # the signed '%20' as '+' changes the canonical URI. (S3 reads a raw '+' as a space,
    # E3, so the same change to an S3 key is harmless there.)
    req = capture("apigateway", lambda c: c.get_rest_api(restApiId="a b"))
    assert "%20" in req.target
    return run(alter(req, target=req.target.replace("%20", "+")))


def test_plus_for_space_in_an_s3_key_is_harmless() -> None:
    """S3 reads a raw '+' in the path as a space (awsmodel E3: three S3 echoes), so a hop
    that sends boto3's '%20' as '+' leaves the request valid; the record says the verdict
    rests on that reading."""
    req = capture("s3", lambda c: c.get_object(Bucket="bucket", Key="a b"))
    assert run(alter(req, target=req.target.replace("%20", "+"))) >= {"ENCODING_AMBIGUOUS"}


def case_query_encoding() -> set[str]:
    req = capture("s3", lambda c: c.get_bucket_acl(Bucket="bucket"))
    assert req.target.endswith("?acl")
    from sigv4_inspector.core import canonical as c
    from sigv4_inspector.core.keys import signing_key, sigv4_signature
    from sigv4_inspector.core.verify import verify

    # a hand-rolled signer that left the valueless parameter without '='
    v = verify(req, KEYRING)
    assert v.canonical_request
    creq = v.canonical_request.replace("\nacl=\n", "\nacl\n")
    sts = c.string_to_sign("AWS4-HMAC-SHA256", v.auth.amz_date or "", str(v.auth.scope), creq)
    sig = sigv4_signature(signing_key(SECRET, v.auth.scope.date, "us-east-1", "s3"), sts)  # type: ignore[union-attr]
    auth = (req.header("authorization") or "").rsplit("Signature=", 1)[0] + "Signature=" + sig
    return run(alter(req, set_h={"authorization": auth}))


def case_header_canonicalization() -> set[str]:
    req = ddb()
    # a hop unfolded a header into two lines: the signer saw one value, the server two
    return run(
        alter(
            req,
            set_h={"x-amz-target": None},
            add=[("X-Amz-Target", req.header("x-amz-target") or ""), ("X-Amz-Target", "x")],
        )
    )


def case_wrong_secret() -> set[str]:
    return run(capture("sts", lambda c: c.get_caller_identity(), secret=SECRET + " "))


def case_sigv2_deprecated() -> set[str]:
    return run(capture("s3", lambda c: c.list_objects(Bucket="bucket"), signature_version="s3"))


CASES: dict[str, tuple[Callable[[], set[str]], set[str]]] = {
    "HOST_MISMATCH": (case_host_mismatch, {"HOST_MISMATCH"}),
    "HEADER_MODIFIED_IN_TRANSIT": (case_header_modified_in_transit, {"HEADER_MODIFIED"}),
    "HOP_BY_HOP_SIGNED": (case_hop_by_hop_signed, {"HOP_BY_HOP_SIGNED"}),
    "PATH_REWRITTEN": (case_path_rewritten, {"URI_ENCODING", "SERVER_CANONICAL_DIFF"}),
    "CLIENT_MODIFIED_AFTER_SIGNING": (case_client_modified_after_signing, {"HEADER_MODIFIED"}),
    "PAYLOAD_HASH_MISMATCH": (case_payload_hash_mismatch, {"PAYLOAD_HASH_MISMATCH"}),
    "CHECKSUM_TRAILER_UNSUPPORTED": (
        case_checksum_trailer_unsupported,
        {"CHECKSUM_DEFAULTS_UNSUPPORTED"},
    ),
    "PRESIGN_CONTENT_TYPE": (case_presign_content_type, {"HEADER_MODIFIED", "SIGNATURE_MISMATCH"}),
    "PRESIGN_SIGNED_HEADER": (case_presign_signed_header, {"SIGNED_HEADER_MISSING"}),
    "PRESIGN_EXPIRY": (case_presign_expiry, {"PRESIGN_EXPIRES_TOO_LONG"}),
    "TOKEN_EXPIRED": (case_token_expired, {"CREDENTIALS_EXPIRED"}),
    "TOKEN_MISSING": (case_token_missing, {"UNSIGNED_AMZ_HEADER"}),
    "TOKEN_VERSION_SIGV4A": (case_token_version_sigv4a, {"STS_GLOBAL_TOKEN_SIGV4A"}),
    "TOKEN_VERSION_OPTIN": (case_token_version_optin, {"STS_GLOBAL_TOKEN_OPT_IN_REGION"}),
    "CLOCK_SKEW": (case_clock_skew, {"CLOCK_SKEW"}),
    "SIGNED_TOO_EARLY": (case_signed_too_early, {"SIGNED_TOO_EARLY"}),
    "SCOPE_REGION": (case_scope_region, {"SCOPE_REGION_MISMATCH"}),
    "SCOPE_SERVICE": (case_scope_service, {"SCOPE_SERVICE_MISMATCH"}),
    "URI_ENCODING": (case_uri_encoding, {"URI_ENCODING"}),
    "QUERY_ENCODING": (case_query_encoding, {"QUERY_ENCODING"}),
    "HEADER_CANONICALIZATION": (case_header_canonicalization, {"HEADER_MODIFIED"}),
    "WRONG_SECRET": (case_wrong_secret, {"SECRET_MISMATCH"}),
    "SIGV2_DEPRECATED": (case_sigv2_deprecated, {"SIGV2_DEPRECATED"}),
}


@pytest.mark.parametrize("tag", sorted(CASES))
def test_corpus_tag(tag: str) -> None:
    fn, want = CASES[tag]
    got = fn()
    assert want & got, f"{tag}: expected one of {sorted(want)}, got {sorted(got)}"


def test_every_corpus_tag_has_a_case() -> None:
    from sigv4_testsupport.paths import SHARED

    text = (SHARED / "spec" / "corpus.md").read_text()
    section = text[text.index("## 1. Classification") : text.index("### Where the proxy")]
    import re

    tags = set(re.findall(r"^\| `([A-Z_0-9]+)` \|", section, re.M))
    assert len(tags) == 23 and tags == set(CASES)
