"""S3 POST uploads through the one inspect step (issue 19): a browser-style form built from
boto3's ``generate_presigned_post`` is recognised from its body, verified over the base64
policy, its policy evaluated at the request time, and every failure named by its code with
the condition and the value sent; S3's own answer read back; the streamed and buffered
paths give the same record; nothing secret reaches the record; the record stays bounded.

The rules' evidence about AWS is cited in sigv4_inspector/core/postpolicy.py; the end to end
tests through a real mitmdump are in tests/test_e2e_post.py."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigv4_inspector.core.capture import FlowCapture
from sigv4_inspector.core.errorclass import classify
from sigv4_inspector.core.explain import explain_record
from sigv4_inspector.core.inspect import (
    FlowInspector,
    Inspection,
    access_key_of,
    inspect_request,
    parse_response,
)
from sigv4_inspector.core.model import Credential, DictKeyring, WireRequest, fingerprint
from sigv4_inspector.core.postpolicy import post_bucket
from sigv4_inspector.core.redact import redact_body
from sigv4_inspector.core.servererror import parse_error_response
from sigv4_inspector.core.verify import VerifySession

ROOT = Path(__file__).resolve().parent.parent
SPEC = json.loads((ROOT / "tests" / "clients" / "postpolicy" / "spec.json").read_text())
PERM = SPEC["credentials"]["permanent"]
TEMP = SPEC["credentials"]["temporary"]
AK, SK = PERM["access_key_id"], PERM["secret"]
KEYRING = DictKeyring(
    [
        Credential(AK, SK, source="profile:test"),
        Credential(
            TEMP["access_key_id"], TEMP["secret"], TEMP["token"], source="profile:temporary"
        ),
    ]
)
BUCKET = "examplebucket"


def generate(
    *,
    version: str | None = "s3v4",
    temporary: bool = False,
    region: str = "eu-west-1",
    fields: dict[str, str] | None = None,
    conditions: list[Any] | None = None,
    expires: int = 3600,
    key: str = "uploads/${filename}",
) -> dict[str, Any]:
    """A presigned POST from boto3 (url, and the fields in the order boto3 gives them)."""
    cred = TEMP if temporary else PERM
    client = boto3.session.Session(
        aws_access_key_id=cred["access_key_id"],
        aws_secret_access_key=cred["secret"],
        aws_session_token=cred.get("token"),
        region_name=region,
    ).client("s3", config=Config(signature_version=version) if version else None)
    post = client.generate_presigned_post(
        BUCKET,
        key,
        Fields=fields,
        Conditions=conditions,
        ExpiresIn=expires,
    )
    return {"url": post["url"], "fields": list(post["fields"].items())}


DEFAULT_FIELDS = {"Content-Type": "image/png", "x-amz-meta-tag": "demo"}
DEFAULT_CONDITIONS: list[Any] = [
    {"Content-Type": "image/png"},
    ["starts-with", "$x-amz-meta-tag", ""],
    ["content-length-range", 1, 1024],
]


def default_post(**kw: Any) -> dict[str, Any]:
    kw.setdefault("fields", dict(DEFAULT_FIELDS))
    kw.setdefault("conditions", list(DEFAULT_CONDITIONS))
    return generate(**kw)


def form_request(
    post: dict[str, Any],
    *,
    replace: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
    add: list[tuple[str, str]] | None = None,
    after: list[tuple[str, str]] | None = None,
    content: bytes = b"\x89PNG" + b"x" * 60,
    filename: str = "photo.png",
) -> WireRequest:
    """The request a browser sends for the form (requests' multipart encoding: the fields in
    order, then the file, then ``after`` fields)."""
    fields = [
        (k, (replace or {}).get(k, v))
        for k, v in post["fields"]
        if k.lower() not in {d.lower() for d in drop}
    ]
    fields += add or []
    files: list[tuple[str, Any]] = [("file", (filename, content, "image/png"))]
    files += [(k, (None, v)) for k, v in after or []]
    prepared = requests.Request("POST", post["url"], data=fields, files=files).prepare()
    assert isinstance(prepared.body, bytes)
    url = urlsplit(post["url"])
    headers = [("Host", url.netloc), *prepared.headers.items()]
    return WireRequest.build("POST", url.path or "/", headers, prepared.body, url.netloc)


def run(
    req: WireRequest,
    *,
    now: datetime | None = None,
    keyring: DictKeyring = KEYRING,
    **kw: Any,
) -> Inspection:
    now = now or datetime.now(UTC)
    return inspect_request(
        req,
        keyring,
        flow_id="t",
        url=f"https://{req.host}{req.target}",
        seen_at=now,
        now=now,
        **kw,
    )


def codes(insp: Inspection) -> list[str]:
    return [f.code for f in insp.findings]


def errors(insp: Inspection) -> set[str]:
    return {f.code for f in insp.findings if f.severity == "error"}


def finding(insp: Inspection, code: str) -> Any:
    return next(f for f in insp.findings if f.code == code)


def policy_of(insp: Inspection) -> dict[str, Any]:
    policy: dict[str, Any] = finding(insp, "UNSIGNED_PAYLOAD").evidence["policy"]
    return policy


def value_of(post: dict[str, Any], name: str) -> str:
    return str(next(v for k, v in post["fields"] if k.lower() == name.lower()))


def s3_error(status: int, code: str, message: str, extra: str = "") -> Any:
    body = (
        f"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>{code}</Code>"
        f"<Message>{message}</Message>{extra}<RequestId>R</RequestId></Error>"
    ).encode()
    return parse_response(status, [("Content-Type", "application/xml")], body)


# ---------------------------------------------------------------- the verdict


def test_valid_sigv4_form_is_valid_with_the_policy_as_string_to_sign() -> None:
    post = default_post()
    insp = run(form_request(post))
    rec = insp.record
    assert insp.verdict == "valid", insp.findings
    assert rec["auth"]["scheme"] == "sigv4" and rec["auth"]["location"] == "form"
    assert rec["auth"]["access_key_id"] == AK and rec["auth"]["signed_headers"] is None
    assert rec["auth"]["scope"] == {
        "date": rec["time"][:10].replace("-", ""),
        "service": "s3",
        "region": "eu-west-1",
    }
    assert rec["canonical_request"] is None
    assert rec["string_to_sign"] == value_of(post, "policy")
    assert rec["credential_source"] == "profile:test"
    assert codes(insp) == ["UNSIGNED_PAYLOAD"] and rec["headline"] is None
    policy = policy_of(insp)
    assert policy["expired"] is False and policy["conditions"]
    assert all(c["outcome"] == "ok" for c in policy["conditions"]), policy
    assert {c["field"] for c in policy["conditions"]} >= {"Content-Type", "bucket", "key"}
    signature = value_of(post, "x-amz-signature")
    assert signature not in insp.line and signature not in insp.comment
    assert insp.comment == "SigV4 valid" and insp.marker == ""


def test_sigv2_form_is_valid_with_only_sigv2_deprecated() -> None:
    post = default_post(version=None, region="us-east-1")  # botocore's presign default
    assert {k for k, _ in post["fields"]} >= {"AWSAccessKeyId", "signature", "policy"}
    insp = run(form_request(post))
    assert insp.verdict == "valid" and insp.record["auth"]["scheme"] == "sigv2"
    assert errors(insp) == {"SIGV2_DEPRECATED"}
    f = finding(insp, "SIGV2_DEPRECATED")
    assert "POST form" in f.message and "signature_version='s3v4'" in f.fix
    assert value_of(post, "signature") not in insp.line


def test_unknown_key_is_unverified_and_the_policy_still_evaluated() -> None:
    insp = run(form_request(default_post()), keyring=DictKeyring())
    assert insp.verdict == "unverified"
    assert "UNKNOWN_ACCESS_KEY" in codes(insp) and "UNSIGNED_REQUEST" not in codes(insp)
    assert all(c["outcome"] == "ok" for c in policy_of(insp)["conditions"])


def test_wrong_secret_is_invalid() -> None:
    keyring = DictKeyring([Credential(AK, SK[:-1] + "X", source="profile:old")])
    insp = run(form_request(default_post()), keyring=keyring)
    assert insp.verdict == "invalid"
    f = finding(insp, "SIGNATURE_MISMATCH")
    assert "policy" in f.message and f.evidence["signature"].startswith("sha256:")


def test_a_policy_field_changed_after_signing_is_invalid() -> None:
    post = default_post()
    other = default_post(expires=60)  # another policy, signed by the same key
    assert value_of(other, "policy") != value_of(post, "policy")
    req = form_request(post, replace={"policy": value_of(other, "policy")})
    assert run(req).verdict == "invalid"


# ---------------------------------------------------------------- the policy's failures


def test_content_type_mismatch_names_the_condition_and_the_value() -> None:
    insp = run(form_request(default_post(), replace={"Content-Type": "image/jpeg"}))
    assert insp.verdict == "valid"  # the signature is right; S3 refuses the form
    f = insp.headline
    assert f is not None and f.code == "POST_POLICY_CONDITION_FAILED"
    assert "the upload form sent image/jpeg; the policy allows only image/png" in f.message
    assert f.evidence["condition"] == '["eq", "$Content-Type", "image/png"]'
    assert f.evidence["value_sent"] == "image/jpeg" and f.evidence["expected"] == "image/png"
    assert "image/png" in f.fix and "starts-with" in f.fix
    assert insp.marker == ":x:" and insp.comment.startswith("POST_POLICY_CONDITION_FAILED -> ")
    failed = [c for c in policy_of(insp)["conditions"] if c["outcome"] == "failed"]
    assert [c["field"] for c in failed] == ["Content-Type"]


def test_a_removed_condition_field_is_named() -> None:
    insp = run(form_request(default_post(), drop=("x-amz-meta-tag",)))
    (f,) = [x for x in insp.findings if x.code == "POST_POLICY_CONDITION_FAILED"]
    assert f.evidence["condition"] == '["starts-with", "$x-amz-meta-tag", ""]'
    assert f.evidence["value_sent"] is None and "no such field" in f.message


def test_a_field_after_the_file_is_ignored_as_s3_does() -> None:
    post = default_post()
    insp = run(form_request(post, drop=("Content-Type",), after=[("Content-Type", "image/png")]))
    f = finding(insp, "POST_POLICY_CONDITION_FAILED")
    assert f.evidence["field"] == "Content-Type" and "after the file" in f.message
    assert policy_of(insp)["ignored_fields"] == ["Content-Type"]


def test_extra_fields_are_named_and_x_ignore_is_exempt() -> None:
    insp = run(form_request(default_post(), add=[("x-foo", "bar"), ("x-ignore-me", "1")]))
    (f,) = [x for x in insp.findings if x.code == "POST_POLICY_EXTRA_FIELD"]
    assert f.evidence["field"] == "x-foo" and f.evidence["value_sent"] == "bar"
    assert "Extra input fields: x-foo" in f.message
    assert errors(insp) == {"POST_POLICY_EXTRA_FIELD"}


@pytest.mark.parametrize(
    ("size", "s3_code"), [(1025, "EntityTooLarge"), (0, "EntityTooSmall"), (1024, None)]
)
def test_content_length_range_against_the_file_size(size: int, s3_code: str | None) -> None:
    insp = run(form_request(default_post(), content=b"x" * size))
    failed = [f for f in insp.findings if f.code == "POST_POLICY_CONDITION_FAILED"]
    if s3_code is None:
        assert not failed and insp.verdict == "valid"
        return
    (f,) = failed
    assert f.evidence["condition"] == '["content-length-range", 1, 1024]'
    assert f.evidence["value_sent"] == str(size) and f.evidence["s3_code"] == s3_code
    assert f"The file is {size} bytes" in f.message and "1 to 1024 bytes" in f.message


def test_expiration_against_the_request_time_not_a_clock() -> None:
    post = default_post(expires=600)
    req = form_request(post)
    now = datetime.now(UTC)
    assert "POST_POLICY_EXPIRED" not in codes(run(req, now=now))
    late = run(req, now=now + timedelta(minutes=11))
    f = finding(late, "POST_POLICY_EXPIRED")
    assert "Policy expired" in f.message and f.evidence["expired_seconds"] > 0
    assert f.evidence["basis"] == "local"
    assert late.verdict == "valid" and late.headline is f


def test_another_bucket_than_the_policys() -> None:
    post = default_post()
    post = {**post, "url": post["url"].replace(BUCKET, "otherbucket")}
    f = finding(run(form_request(post)), "POST_POLICY_CONDITION_FAILED")
    assert f.evidence["field"] == "bucket" and f.evidence["value_sent"] == "otherbucket"
    assert "posted to bucket otherbucket" in f.message


# ---------------------------------------------------------------- temporary credentials


def test_temporary_key_form_is_valid_and_its_token_never_shown() -> None:
    post = default_post(temporary=True)
    insp = run(form_request(post))
    assert insp.verdict == "valid" and errors(insp) == set(), insp.findings
    token = TEMP["token"]
    assert token not in insp.line and token[:20] not in insp.line
    assert insp.record["auth"]["session_token"].startswith(token[:8] + "…")
    assert insp.record["string_to_sign"].startswith("[the base64 policy as sent:")
    assert value_of(post, "policy") not in insp.line
    explained = explain_record(insp.record)
    assert token not in explained and "x-amz-security-token" in explained


def test_temporary_key_without_its_token_field() -> None:
    post = default_post(temporary=True)
    insp = run(form_request(post, drop=("x-amz-security-token",)))
    assert {"SECURITY_TOKEN_MISSING", "POST_POLICY_CONDITION_FAILED"} <= errors(insp)
    f = finding(insp, "SECURITY_TOKEN_MISSING")
    assert "x-amz-security-token field" in f.message and f.evidence["where"] == "form"
    cond = finding(insp, "POST_POLICY_CONDITION_FAILED")
    assert cond.evidence["field"] == "x-amz-security-token"
    assert TEMP["token"] not in insp.line and TEMP["token"][:20] not in insp.line
    assert "[token IQoJb3Jp" in cond.evidence["condition"]


# ---------------------------------------------------------------- S3's answer


def test_s3_answer_agrees_and_the_record_carries_the_parsed_condition() -> None:
    msg = "Invalid according to Policy: Policy Condition failed: [&quot;eq&quot;, &quot;$Content-Type&quot;, &quot;image/png&quot;]"
    insp = run(
        form_request(default_post(), replace={"Content-Type": "image/jpeg"}),
        response=s3_error(403, "AccessDenied", msg),
    )
    order = codes(insp)
    assert order.index("POST_POLICY_CONDITION_FAILED") < order.index("SERVER_REJECTED")
    assert "PERMISSION_DENIED" not in order
    f = finding(insp, "POST_POLICY_CONDITION_FAILED")
    assert f.evidence["server_confirms"] is True and f.evidence["basis"] == "local and server"
    rejected = finding(insp, "SERVER_REJECTED")
    assert rejected.evidence["classification"] == "post_policy_rejected"
    assert rejected.evidence["post_policy"]["kind"] == "condition-failed"
    assert rejected.evidence["post_policy"]["condition"] == '["eq", "$Content-Type", "image/png"]'
    assert insp.record["response"]["aws_error_code"] == "AccessDenied"


def test_s3_answer_disagreeing_with_the_local_evaluation_is_said() -> None:
    msg = (
        'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "uploads/"]'
    )
    insp = run(form_request(default_post()), response=s3_error(403, "AccessDenied", msg))
    f = finding(insp, "POST_POLICY_CONDITION_FAILED")
    assert f.evidence["basis"] == "server" and f.evidence["agree"] is False
    assert f.evidence["local_outcome"] == "ok" and f.evidence["value_sent"] == "uploads/photo.png"
    assert "disagree" in f.message and '["starts-with", "$key", "uploads/"]' in f.message


def test_s3_extra_field_and_expiry_answers() -> None:
    post = default_post()
    insp = run(
        form_request(post, add=[("x-foo", "1")]),
        response=s3_error(
            403, "AccessDenied", "Invalid according to Policy: Extra input fields: x-foo"
        ),
    )
    assert finding(insp, "POST_POLICY_EXTRA_FIELD").evidence["server_confirms"] is True
    # S3 (its clock ahead) says expired; here the policy is still valid: both said
    insp = run(
        form_request(post),
        response=s3_error(403, "AccessDenied", "Invalid according to Policy: Policy expired."),
    )
    f = finding(insp, "POST_POLICY_EXPIRED")
    assert f.evidence["basis"] == "server" and f.evidence["agree"] is False
    assert "disagree" in f.message


def test_entity_too_large_is_the_policys_refusal() -> None:
    extra = "<ProposedSize>2000</ProposedSize><MaxSizeAllowed>1024</MaxSizeAllowed>"
    insp = run(
        form_request(default_post(), content=b"x" * 2000),
        response=s3_error(
            400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", extra
        ),
    )
    f = finding(insp, "POST_POLICY_CONDITION_FAILED")
    assert f.evidence["server_confirms"] is True and f.evidence["s3_code"] == "EntityTooLarge"
    assert finding(insp, "SERVER_REJECTED").evidence["classification"] == "post_policy_rejected"


def test_wrong_secret_with_s3s_echo_is_secret_mismatch() -> None:
    post = default_post()
    policy = value_of(post, "policy")
    extra = f"<AWSAccessKeyId>{AK}</AWSAccessKeyId><StringToSign>{policy}</StringToSign>"
    keyring = DictKeyring([Credential(AK, SK[:-1] + "X", source="profile:old")])
    insp = run(
        form_request(post),
        keyring=keyring,
        response=s3_error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
            extra,
        ),
    )
    assert insp.verdict == "invalid" and insp.headline is not None
    assert insp.headline.code == "SECRET_MISMATCH"
    assert "SERVER_REJECTED" in codes(insp)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (
            'Invalid according to Policy: Policy Condition failed: ["eq", "$key", "k"]',
            "AccessDenied",
        ),
        ("Invalid according to Policy: Policy expired.", "AccessDenied"),
        ("Invalid Policy: Invalid JSON.", "InvalidPolicyDocument"),
    ],
)
def test_policy_answers_are_not_iam_denials(message: str, code: str) -> None:
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
    err = parse_error_response(403, [("Content-Type", "application/xml")], body)
    assert err is not None and classify(err) == "post_policy_rejected"


# ---------------------------------------------------------------- streamed = buffered


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_streamed_and_buffered_give_the_same_record(seed: int) -> None:
    post = default_post(temporary=seed == 3)
    req = form_request(post, replace={"Content-Type": "image/jpeg"}, content=b"z" * 700)
    now = datetime.now(UTC)
    buffered = run(req, now=now)
    head = WireRequest.build(req.method, req.target, req.headers, None, req.authority)
    session = VerifySession(head, KEYRING, now=now)
    body, rnd, pos = req.body or b"", random.Random(seed), 0
    while pos < len(body):
        n = rnd.choice([1, 3, 64, 1000, 4096])
        session.feed(body[pos : pos + n])
        pos += n
    streamed = run(head, now=now, verification=session.finish())
    assert streamed.line == buffered.line


def test_a_form_streamed_before_its_key_was_known_is_verified_at_inspection() -> None:
    req = form_request(default_post())
    now = datetime.now(UTC)
    head = WireRequest.build(req.method, req.target, req.headers, None, req.authority)
    session = VerifySession(head, DictKeyring(), now=None)  # credentials still loading
    session.feed(req.body or b"")
    early = session.finish()
    assert early.verdict == "unverified" and early.post_policy is None
    insp = run(head, now=now, verification=early)
    assert insp.verdict == "valid" and codes(insp) == ["UNSIGNED_PAYLOAD"]


def test_a_file_not_seen_whole_leaves_the_size_undecided() -> None:
    req = form_request(default_post(), content=b"x" * 5000)
    head = WireRequest.build(req.method, req.target, req.headers, None, req.authority)
    session = VerifySession(head, KEYRING, now=datetime.now(UTC))
    session.feed((req.body or b"")[:3000])  # the fields and part of the file
    session.body_unknown()  # the streamed body was given up
    insp = run(head, verification=session.finish())
    assert insp.verdict == "valid"  # the fields come before the file
    (clr,) = [c for c in policy_of(insp)["conditions"] if c["field"] is None]
    assert clr["outcome"] == "not-applicable"
    assert "PAYLOAD_NOT_VERIFIED" in codes(insp)


# ---------------------------------------------------------------- which flows


def capture_of(req: WireRequest, body: bytes | None = b"") -> FlowCapture:
    host, _, port = req.authority.partition(":")
    return FlowCapture(
        flow_id="f",
        method=req.method.encode(),
        target=req.target.encode(),
        fields=tuple((k.encode(), v.encode()) for k, v in req.headers),
        body=req.body if body == b"" else body,
        scheme="https",
        h2_authority="",
        default_authority=req.authority,
        seen_at=datetime.now(UTC).timestamp(),
        client_addr="127.0.0.1",
    )


def with_host(req: WireRequest, host: str, target: str | None = None) -> WireRequest:
    headers = [(k, host if k.lower() == "host" else v) for k, v in req.headers]
    return WireRequest.build(req.method, target or req.target, headers, req.body, host)


def test_flow_inspector_recognises_forms_to_any_host() -> None:
    inspector = FlowInspector(KEYRING)
    req = form_request(default_post())
    minio = with_host(req, "127.0.0.1:9000", f"/{BUCKET}")  # an S3-compatible server
    insp = inspector.inspect(capture_of(minio))
    assert insp is not None and insp.verdict == "valid", insp and insp.findings
    assert access_key_of(capture_of(minio)) == AK
    # an ordinary form to another host is not AWS traffic; to AWS it is unsigned
    plain = WireRequest.build(
        "POST",
        "/upload",
        [("Host", "example.com"), ("Content-Type", "multipart/form-data; boundary=b")],
        b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b--\r\n',
        "example.com",
    )
    assert inspector.inspect(capture_of(plain)) is None
    aws = inspector.inspect(capture_of(with_host(plain, "b.s3.amazonaws.com")))
    assert aws is not None and aws.verdict == "unsigned" and "UNSIGNED_REQUEST" in aws.codes


def test_a_form_whose_body_was_not_seen() -> None:
    req = form_request(default_post())
    insp = FlowInspector(KEYRING).inspect(capture_of(req, body=None))
    assert insp is not None and insp.verdict == "unverified"
    f = next(x for x in insp.findings if x.code == "CHECK_UNAVAILABLE")
    assert "S3 POST upload" in f.message and "UNSIGNED_REQUEST" not in insp.codes


@pytest.mark.parametrize(
    ("host", "path", "bucket"),
    [
        ("examplebucket.s3.amazonaws.com", "/", "examplebucket"),
        ("my.dotted.bucket.s3.eu-west-1.amazonaws.com:443", "/", "my.dotted.bucket"),
        ("examplebucket.s3-eu-west-1.amazonaws.com", "/", "examplebucket"),
        ("s3.amazonaws.com", "/examplebucket", "examplebucket"),
        ("s3.eu-west-1.amazonaws.com", "/examplebucket/", "examplebucket"),
        ("127.0.0.1:9000", "/b%2Dx", "b-x"),
        ("uploads.example.com", "/", None),
        ("ap-123456789012.s3-accesspoint.eu-west-1.amazonaws.com", "/", None),
    ],
)
def test_the_bucket_of_the_url(host: str, path: str, bucket: str | None) -> None:
    assert post_bucket(host, path) == bucket


# ---------------------------------------------------------------- bounded, hostile, shown


def test_a_hostile_policy_keeps_the_record_bounded_and_secret_free() -> None:
    import base64
    import hashlib
    import hmac

    token = TEMP["token"]
    # as many long failing conditions as fit in S3's 20 KB of form fields: long names,
    # long values holding the token, all absent from the form
    name, long = "n" * 120, '"v' * 60
    conditions: list[Any] = [["eq", f"${name}{i}", long + token] for i in range(34)]
    conditions += [{"x-amz-security-token": token}, ["content-length-range", 0, 1]]
    doc = {"expiration": "2030-01-01T00:00:00Z", "conditions": conditions}
    policy = base64.b64encode(json.dumps(doc).encode()).decode()
    cred = f"{TEMP['access_key_id']}/20260101/us-east-1/s3/aws4_request"
    key = ("AWS4" + TEMP["secret"]).encode()
    for part in ("20260101", "us-east-1", "s3", "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    sig = hmac.new(key, policy.encode(), hashlib.sha256).hexdigest()
    fields = [
        ("key", "k"),
        ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
        ("x-amz-credential", cred),
        ("x-amz-date", "20260101T000000Z"),
        ("x-amz-security-token", token + "x"),  # not the policy's: that condition fails
        ("policy", policy),
        ("x-amz-signature", sig),
    ] + [(f"x-extra-{'e' * 200}-{i}", token) for i in range(200)]
    post = {"url": f"https://{BUCKET}.s3.amazonaws.com/", "fields": fields}
    insp = run(form_request(post, content=b"x" * 100), now=datetime(2026, 1, 1, tzinfo=UTC))
    assert insp.verdict == "valid"
    assert len(insp.line.encode()) < 64 * 1024, len(insp.line)
    assert len(insp.findings) <= 50
    for secret in (token, token + "x", sig, TEMP["secret"]):
        assert secret not in insp.line and secret[:20] not in insp.line
    assert set(codes(insp)) >= {"POST_POLICY_CONDITION_FAILED", "POST_POLICY_EXTRA_FIELD"}
    assert fingerprint(sig) not in ""  # a fingerprint is what may be shown


def test_the_view_shows_each_condition_with_a_mark() -> None:
    insp = run(form_request(default_post(), replace={"Content-Type": "image/jpeg"}))
    text = explain_record(insp.record)
    assert "POST policy (decoded):" in text and "Scheme:         sigv4 (form)" in text
    lines = text.splitlines()
    marked = [x for x in lines if x.lstrip().startswith(("✗", "✓", "?"))]  # the policy's rows
    bad = next(x for x in marked if '["eq", "$Content-Type", "image/png"]' in x)
    assert bad.lstrip().startswith("✗") and "Content-Type = 'image/jpeg'" in bad
    good = next(x for x in marked if '["content-length-range", 1, 1024]' in x)
    assert good.lstrip().startswith("✓") and "file size 64" in good
    assert any(x.lstrip().startswith("✓") and "$bucket" in x for x in lines)


def test_bug_report_bundles_redact_form_fields() -> None:
    post = default_post(temporary=True)
    body = form_request(post).body or b""
    red = redact_body(body)
    for name in ("x-amz-signature", "x-amz-security-token", "policy"):
        assert value_of(post, name).encode() not in red
    assert fingerprint(value_of(post, "x-amz-signature")).encode() in red
    assert b"[redacted-token]" in red and b'name="key"' in red
    # without a token the policy stays (it names nothing secret)
    plain = default_post()
    assert value_of(plain, "policy").encode() in redact_body(form_request(plain).body or b"")


# ---------------------------------------------------------------- the stream tap


@pytest.fixture
def no_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The addon's credential chain sees nothing of this machine's."""
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "nope-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "nope-creds"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.usefixtures("no_aws_env")
@pytest.mark.parametrize(
    ("host", "threshold", "tapped"),
    [
        (f"{BUCKET}.s3.amazonaws.com", "1k", True),  # a large form to AWS: streamed, read
        (f"{BUCKET}.s3.amazonaws.com", "1m", False),  # a small one: buffered by mitmproxy
        ("127.0.0.1:9000", "1k", False),  # another host: left to mitmproxy's own streaming
    ],
)
async def test_the_tap_streams_large_forms_to_aws(host: str, threshold: str, tapped: bool) -> None:
    from mitmproxy.test import taddons

    from sigv4_testsupport.addonharness import Sigv4, flow_for

    req = form_request(default_post(), content=b"x" * 900)
    req = with_host(req, host)
    a = Sigv4()
    with taddons.context(*a.addons) as tctx:
        tctx.configure(a.addons[0], sigv4_stream_threshold=threshold)
        a.store.add(Credential(AK, SK, source="profile:test"))
        f = flow_for(req)
        f.live = True
        a.requestheaders(f)
        assert callable(f.request.stream) is tapped
        if not tapped:
            return
        body = req.body or b""
        tap = f.request.stream
        assert callable(tap)
        passed = b"".join(bytes(tap(body[i : i + 500])) for i in range(0, len(body), 500))  # type: ignore[arg-type]
        tap(b"")
        assert passed == body  # the chunks pass unchanged
        f.request.raw_content = None  # a streamed body is not kept
        a.request(f)
        a.response(f)
        rec = await a.recorded(f)
    assert rec["verdict"] == "valid" and rec["auth"]["location"] == "form", rec["findings"]
    assert [x["code"] for x in rec["findings"]] == ["UNSIGNED_PAYLOAD"]


# ---------------------------------------------------------------- hostile forms


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=12,
)
_names = st.sampled_from(
    [
        "key",
        "Content-Type",
        "x-amz-meta-a",
        "bucket",
        "x-amz-security-token",
        "success_action_status",
        "x-ignore-z",
        "policy",
        "file",
        "x-amz-signature",
    ]
) | st.text(min_size=1, max_size=30).filter(
    lambda x: '"' not in x and "\r" not in x and "\n" not in x
)
_conditions = st.lists(
    st.one_of(
        st.builds(lambda n, v: {n: v}, _names, st.text(max_size=30)),
        st.builds(
            lambda op, n, v: [op, "$" + n, v],
            st.sampled_from(["eq", "starts-with", "EQ", "Starts-With"]),
            _names,
            st.text(max_size=30),
        ),
        st.builds(lambda a, b: ["content-length-range", a, b], _json, _json),
        _json,
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    conditions=_conditions,
    expiration=st.one_of(st.just("2030-01-01T00:00:00Z"), _json),
    fields=st.lists(st.tuples(_names, st.text(max_size=40)), max_size=8),
    size=st.integers(0, 3000),
    temporary=st.booleans(),
    response=st.sampled_from(
        [
            None,
            (
                "AccessDenied",
                'Invalid according to Policy: Policy Condition failed: ["eq", "$key", "k"]',
            ),
            ("AccessDenied", "Invalid according to Policy: Extra input fields: x-y"),
            ("AccessDenied", "Invalid according to Policy: Policy expired."),
            ("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"),
            ("InvalidPolicyDocument", "Invalid Policy: Invalid JSON."),
        ]
    ),
)
def test_hostile_forms_never_break_the_record(
    conditions: list[Any],
    expiration: Any,
    fields: list[tuple[str, str]],
    size: int,
    temporary: bool,
    response: tuple[str, str] | None,
) -> None:
    import base64
    import hashlib
    import hmac

    cred = TEMP if temporary else PERM
    doc = {"expiration": expiration, "conditions": conditions}
    policy = base64.b64encode(json.dumps(doc).encode()).decode()
    key = ("AWS4" + cred["secret"]).encode()
    for part in ("20260101", "us-east-1", "s3", "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    sig = hmac.new(key, policy.encode(), hashlib.sha256).hexdigest()
    form = fields + [
        ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
        ("x-amz-credential", f"{cred['access_key_id']}/20260101/us-east-1/s3/aws4_request"),
        ("x-amz-date", "20260101T000000Z"),
        ("policy", policy),
        ("x-amz-signature", sig),
    ]
    if temporary:
        form.append(("x-amz-security-token", TEMP["token"]))
    post = {"url": f"https://{BUCKET}.s3.amazonaws.com/", "fields": form}
    resp = s3_error(403, *response) if response else None
    insp = run(
        form_request(post, content=b"x" * size), now=datetime(2026, 1, 1, tzinfo=UTC), response=resp
    )
    assert insp.verdict in ("valid", "invalid")
    assert not [f for f in insp.findings if f.code == "CHECK_UNAVAILABLE"], insp.findings
    assert len(insp.line.encode()) < 64 * 1024
    for secret in (TEMP["token"], sig, cred["secret"]):
        assert secret not in insp.line and secret[:16] not in insp.line
    explain_record(json.loads(insp.line))
