"""fakeaws's S3 POST Object (browser-based uploads): boto3's ``generate_presigned_post``
(SigV4 ``s3v4`` and SigV2 ``s3``) sent by requests/urllib3 as multipart/form-data, the
policy evaluated as S3 documents it and the failures answered with S3's own wording (the
evidence is in tests/support/sigv4_testsupport/fakeaws/s3post.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from urllib3.filepost import encode_multipart_formdata

from sigv4_testsupport import fakeaws

AKID, SECRET = fakeaws.EXAMPLE_ACCESS_KEY, fakeaws.EXAMPLE_SECRET_KEY
BUCKET = "uploads"


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fakeaws.FakeAWS]:
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
    handle = fakeaws.start_fakeaws(tmp_path_factory.mktemp("fakeaws-certs"))
    try:
        yield handle
    finally:
        handle.stop()
        os.environ.update(saved)


@pytest.fixture(autouse=True)
def _reset(fake: fakeaws.FakeAWS) -> None:
    fake.clock_offset = 0.0


def s3(
    fake: fakeaws.FakeAWS, version: str = "s3v4", akid: str = AKID, secret: str = SECRET, **kw: Any
) -> Any:
    return boto3.session.Session().client(
        "s3",
        region_name="us-east-1",
        endpoint_url=f"https://127.0.0.1:{fake.https_port}",
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        verify=str(fake.ca_path),
        config=Config(signature_version=version, s3={"addressing_style": "path"}),
        **kw,
    )


def post(
    fake: fakeaws.FakeAWS,
    form: dict[str, Any],
    data: bytes = b"hello",
    filename: str = "photo.jpg",
    *,
    drop: tuple[str, ...] = (),
    add: dict[str, str] | None = None,
    after_file: dict[str, str] | None = None,
) -> requests.Response:
    """POST ``form`` (generate_presigned_post's url and fields) as multipart/form-data:
    fields in order, the file, then ``after_file`` fields."""
    parts: list[tuple[str, Any]] = [(k, v) for k, v in form["fields"].items() if k not in drop]
    parts += list((add or {}).items())
    parts.append(("file", (filename, data, "application/octet-stream")))
    parts += list((after_file or {}).items())
    body, ctype = encode_multipart_formdata(parts)
    return requests.post(
        form["url"], data=body, headers={"Content-Type": ctype}, verify=str(fake.ca_path)
    )


def message(r: requests.Response) -> str:
    return r.text.split("<Message>")[1].split("</Message>")[0].replace("&quot;", '"')


def test_sigv4_post_stores_the_object(fake: fakeaws.FakeAWS) -> None:
    client = s3(fake)
    client.create_bucket(Bucket=BUCKET)
    form = client.generate_presigned_post(
        BUCKET,
        "photos/${filename}",
        Fields={"Content-Type": "image/jpeg", "success_action_status": "201"},
        Conditions=[
            {"Content-Type": "image/jpeg"},
            {"success_action_status": "201"},
            ["content-length-range", 1, 100],
        ],
    )
    assert form["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    r = post(fake, form, b"jpeg bytes", "cat.jpg")
    assert r.status_code == 201, r.text
    assert "<Key>photos/cat.jpg</Key>" in r.text and r.headers["ETag"]
    got = client.get_object(Bucket=BUCKET, Key="photos/cat.jpg")
    assert got["Body"].read() == b"jpeg bytes" and got["ContentType"] == "image/jpeg"


def test_sigv2_post_default_204(fake: fakeaws.FakeAWS) -> None:
    s3(fake).create_bucket(Bucket=BUCKET)  # the REST API refuses SigV2, as today
    form = s3(fake, version="s3").generate_presigned_post(BUCKET, "v2.txt")
    assert set(form["fields"]) == {"key", "AWSAccessKeyId", "policy", "signature"}
    r = post(fake, form, b"sigv2 body")
    assert r.status_code == 204, r.text
    assert s3(fake).get_object(Bucket=BUCKET, Key="v2.txt")["Body"].read() == b"sigv2 body"


@pytest.mark.parametrize("version,field", [("s3v4", "x-amz-signature"), ("s3", "signature")])
def test_bad_signature(fake: fakeaws.FakeAWS, version: str, field: str) -> None:
    form = s3(fake, version=version).generate_presigned_post(BUCKET, "k")
    form["fields"][field] = form["fields"][field][:-2] + ("AA" if version == "s3" else "00")
    r = post(fake, form)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text
    assert f"<StringToSign>{form['fields']['policy']}</StringToSign>" in r.text
    form = s3(fake, version=version, secret=SECRET[:-1] + "x").generate_presigned_post(BUCKET, "k")
    assert post(fake, form).status_code == 403


def test_condition_failed_echoes_the_condition(fake: fakeaws.FakeAWS) -> None:
    form = s3(fake).generate_presigned_post(
        BUCKET,
        "k",
        Fields={"Content-Type": "image/jpeg"},
        Conditions=[{"Content-Type": "image/jpeg"}],
    )
    form["fields"]["Content-Type"] = "image/png"
    r = post(fake, form)
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
    assert message(r) == (
        'Invalid according to Policy: Policy Condition failed: ["eq", "$Content-Type", "image/jpeg"]'
    )
    form = s3(fake).generate_presigned_post(
        BUCKET, "k", Fields={"Content-Type": "x"}, Conditions=[["starts-with", "$key", "uploads/"]]
    )
    r = post(fake, form)
    assert message(r) == (
        'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "uploads/"]'
    )


def test_starts_with_empty_allows_any_value(fake: fakeaws.FakeAWS) -> None:
    form = s3(fake).generate_presigned_post(
        BUCKET,
        "any",
        Fields={"Content-Type": "text/anything"},
        Conditions=[["starts-with", "$Content-Type", ""]],
    )
    assert post(fake, form).status_code == 204


def test_extra_input_fields(fake: fakeaws.FakeAWS) -> None:
    form = s3(fake).generate_presigned_post(BUCKET, "k")
    r = post(fake, form, add={"x-amz-meta-foo": "bar"})
    assert r.status_code == 403
    assert message(r) == "Invalid according to Policy: Extra input fields: x-amz-meta-foo"
    r = post(fake, form, add={"Content-Type": "text/plain"})
    assert message(r) == "Invalid according to Policy: Extra input fields: content-type"
    # exempt: x-ignore-*, and anything after the file is not read at all
    assert (
        post(fake, form, add={"x-ignore-me": "1"}, after_file={"x-amz-meta-late": "1"}).status_code
        == 204
    )
    r = post(fake, form, add={"success_action_status": "201"})
    assert message(r) == "Invalid according to Policy: Extra input fields: success_action_status"


def test_policy_expired(fake: fakeaws.FakeAWS) -> None:
    form = s3(fake).generate_presigned_post(BUCKET, "k", ExpiresIn=60)
    fake.clock_offset = 120
    r = post(fake, form)
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
    assert message(r) == "Invalid according to Policy: Policy expired."


def test_content_length_range(fake: fakeaws.FakeAWS) -> None:
    form = s3(fake).generate_presigned_post(
        BUCKET, "k", Conditions=[["content-length-range", 5, 10]]
    )
    assert post(fake, form, b"12345").status_code == 204
    assert post(fake, form, b"1234567890").status_code == 204
    r = post(fake, form, b"12345678901")
    assert r.status_code == 400 and "<Code>EntityTooLarge</Code>" in r.text
    assert "<ProposedSize>11</ProposedSize><MaxSizeAllowed>10</MaxSizeAllowed>" in r.text
    assert message(r) == "Your proposed upload exceeds the maximum allowed size"
    r = post(fake, form, b"1234")
    assert r.status_code == 400 and "<Code>EntityTooSmall</Code>" in r.text
    assert "<ProposedSize>4</ProposedSize><MinSizeAllowed>5</MinSizeAllowed>" in r.text


def test_bucket_condition_is_the_url_bucket(fake: fakeaws.FakeAWS) -> None:
    s3(fake).create_bucket(Bucket="other")
    form = s3(fake).generate_presigned_post(BUCKET, "k")
    form["url"] = form["url"].replace(f"/{BUCKET}", "/other")
    r = post(fake, form)
    assert (
        message(r)
        == f'Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "{BUCKET}"]'
    )


def test_temporary_credentials_need_the_token(fake: fakeaws.FakeAWS) -> None:
    sts = boto3.session.Session().client(
        "sts",
        region_name="us-east-1",
        endpoint_url=f"https://127.0.0.1:{fake.https_port}",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        verify=str(fake.ca_path),
    )
    c = sts.get_session_token()["Credentials"]
    client = s3(
        fake,
        akid=c["AccessKeyId"],
        secret=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
    )
    form = client.generate_presigned_post(BUCKET, "temp.txt")
    assert form["fields"]["x-amz-security-token"] == c["SessionToken"]
    assert post(fake, form).status_code == 204
    r = post(fake, form, drop=("x-amz-security-token",))
    assert r.status_code == 403 and "<Code>InvalidAccessKeyId</Code>" in r.text


def test_missing_key_field(fake: fakeaws.FakeAWS) -> None:
    form = s3(fake).generate_presigned_post(BUCKET, "k")
    r = post(fake, form, drop=("key",))
    assert r.status_code == 400 and "<Code>InvalidArgument</Code>" in r.text
    assert "<ArgumentName>key</ArgumentName>" in r.text
