"""Tests for scripts/fakeaws.py (local AWS-like endpoint) and scripts/badhop.py (bad hop).

Both run in-process, in threads; clients are boto3/botocore and requests, never mitmproxy.
The machine's AWS and CA environment is removed so nothing real leaks in.
"""

from __future__ import annotations

import base64
import os
import socket
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from sigv4_testsupport import badhop, fakeaws

AKID = fakeaws.EXAMPLE_ACCESS_KEY
SECRET = fakeaws.EXAMPLE_SECRET_KEY
ROLE = "arn:aws:iam::123456789012:role/demo"


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fakeaws.FakeAWS]:
    handle = fakeaws.start_fakeaws(tmp_path_factory.mktemp("fakeaws-certs"))
    yield handle
    handle.stop()


@pytest.fixture(autouse=True)
def isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_") or name.lower() in (
            "requests_ca_bundle",
            "curl_ca_bundle",
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "no_proxy",
        ):
            monkeypatch.delenv(name, raising=False)
    (tmp_path / "aws-config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    if "fake" in request.fixturenames:
        handle: fakeaws.FakeAWS = request.getfixturevalue("fake")
        handle.clock_offset = 0.0
        handle.echo_canonical = True


@pytest.fixture
def localhost_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolve ``*.localhost`` to 127.0.0.1 in this process (not every resolver does)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def client(
    service: str,
    fake: fakeaws.FakeAWS,
    *,
    endpoint: str | None = None,
    region: str = "us-east-1",
    akid: str = AKID,
    secret: str = SECRET,
    token: str | None = None,
    verify: str | None = None,
    **config: Any,
) -> Any:
    cfg = Config(
        signature_version="s3v4" if service == "s3" else None,
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},
        **config,
    )
    return boto3.session.Session().client(
        service,
        region_name=region,
        endpoint_url=endpoint or f"https://127.0.0.1:{fake.https_port}",
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        aws_session_token=token,
        verify=verify or str(fake.ca_path),
        config=cfg,
    )


def error_of(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(*args, **kwargs)
    response: dict[str, Any] = info.value.response
    return response


# ---- S3 -------------------------------------------------------------------------------------


def test_put_object_aws_chunked_roundtrip(fake: fakeaws.FakeAWS) -> None:
    s3 = client("s3", fake)
    data = b"hello aws-chunked " * 500
    put = s3.put_object(Bucket="roundtrip", Key="dir/a b.txt", Body=data)
    assert put["ChecksumCRC32"] == base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    sent = fake.requests[-1]
    assert sent.header("content-encoding") == "aws-chunked"
    assert sent.header("x-amz-content-sha256") == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert b"x-amz-checksum-crc32:" in sent.body
    got = s3.get_object(Bucket="roundtrip", Key="dir/a b.txt")
    assert got["Body"].read() == data
    s3.put_object(Bucket="roundtrip", Key="dir/sub/c.txt", Body=b"c")
    s3.put_object(Bucket="roundtrip", Key="top.txt", Body=b"t")
    listed = s3.list_objects_v2(Bucket="roundtrip", Prefix="dir/", Delimiter="/")
    assert [o["Key"] for o in listed["Contents"]] == ["dir/a b.txt"]
    assert listed["CommonPrefixes"] == [{"Prefix": "dir/sub/"}]
    head = s3.head_object(Bucket="roundtrip", Key="top.txt")
    assert head["ContentLength"] == 1


def test_presigned_get_and_put(fake: fakeaws.FakeAWS) -> None:
    s3 = client("s3", fake)
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "presign", "Key": "k.bin"}, ExpiresIn=300
    )
    assert requests.put(put_url, data=b"payload", verify=str(fake.ca_path)).status_code == 200
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "presign", "Key": "k.bin"})
    r = requests.get(url, verify=str(fake.ca_path))
    assert r.status_code == 200 and r.content == b"payload"
    r = requests.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), verify=str(fake.ca_path))
    assert r.status_code == 403
    assert r.content.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code>'
    )
    assert b"<CanonicalRequest>GET\n/presign/k.bin\nX-Amz-Algorithm=" in r.content
    assert b"<StringToSignBytes>41 57 53 34 " in r.content
    assert r.headers["Server"] == "AmazonS3" and "x-amz-request-id" in r.headers


def test_presign_expiry_rules(fake: fakeaws.FakeAWS) -> None:
    s3 = client("s3", fake)
    s3.put_object(Bucket="presign", Key="e", Body=b"x")
    too_long = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "presign", "Key": "e"}, ExpiresIn=700000
    )
    r = requests.get(too_long, verify=str(fake.ca_path))
    assert r.status_code == 400 and b"<Code>AuthorizationQueryParametersError</Code>" in r.content
    short = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "presign", "Key": "e"}, ExpiresIn=60
    )
    fake.clock_offset = 120
    r = requests.get(short, verify=str(fake.ca_path))
    assert r.status_code == 403
    assert b"<Message>Request has expired</Message><X-Amz-Expires>60</X-Amz-Expires>" in r.content
    assert b"<ServerTime>" in r.content


def test_wrong_secret_echoes_canonical_request(fake: fakeaws.FakeAWS) -> None:
    client("s3", fake).put_object(Bucket="b", Key="k", Body=b"v")
    bad = client("s3", fake, secret=SECRET + " ")
    err = error_of(bad.get_object, Bucket="b", Key="k")
    assert err["Error"]["Code"] == "SignatureDoesNotMatch"
    assert err["Error"]["CanonicalRequest"].startswith("GET\n/b/k\n")
    assert err["Error"]["AWSAccessKeyId"] == AKID
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    fake.echo_canonical = False
    err = error_of(bad.get_object, Bucket="b", Key="k")
    assert "CanonicalRequest" not in err["Error"]


def test_clock_skew(fake: fakeaws.FakeAWS) -> None:
    fake.clock_offset = 20 * 60
    err = error_of(client("s3", fake).list_objects_v2, Bucket="b")
    assert err["Error"]["Code"] == "RequestTimeTooSkewed"
    assert err["Error"]["MaxAllowedSkewMilliseconds"] == "900000"
    err = error_of(client("dynamodb", fake).list_tables)
    assert err["Error"]["Code"] == "InvalidSignatureException"
    assert err["Error"]["Message"].startswith("Signature expired: ")
    assert " - 5 min.)" in err["Error"]["Message"]


def test_unsigned_amz_header_and_sigv2(fake: fakeaws.FakeAWS) -> None:
    s3 = client("s3", fake)

    def add_header(request: AWSRequest, **_: Any) -> None:
        request.headers["x-amz-meta-late"] = "added after signing"

    s3.meta.events.register("before-send.s3.ListObjectsV2", add_header)
    err = error_of(s3.list_objects_v2, Bucket="b")
    assert err["Error"]["Code"] == "AccessDenied"
    assert err["Error"]["HeadersNotSigned"] == "x-amz-meta-late"
    r = requests.get(
        f"https://127.0.0.1:{fake.https_port}/b/k",
        headers={"Authorization": f"AWS {AKID}:c2lnbmF0dXJl", "Date": "Mon, 1 Jan 2026"},
        verify=str(fake.ca_path),
    )
    assert r.status_code == 400
    assert b"<Code>InvalidRequest</Code>" in r.content
    assert b"Please use AWS4-HMAC-SHA256.</Message>" in r.content


def test_unknown_key_and_wrong_region(fake: fakeaws.FakeAWS, localhost_names: None) -> None:
    err = error_of(client("s3", fake, akid="AKIAUNKNOWNEXAMPLE12").list_objects_v2, Bucket="b")
    assert err["Error"]["Code"] == "InvalidAccessKeyId"
    endpoint = f"https://s3.us-east-1.localhost:{fake.https_port}"
    s3 = client("s3", fake, endpoint=endpoint, region="us-west-2")
    fake.clear()
    # botocore reads <Region> from AuthorizationHeaderMalformed and retries re-signed.
    assert s3.list_objects_v2(Bucket="b")["ResponseMetadata"]["HTTPStatusCode"] == 200
    first, retried = fake.requests
    assert "/us-west-2/s3/" in (first.header("authorization") or "") and first.status == 400
    assert "/us-east-1/s3/" in (retried.header("authorization") or "") and retried.status == 200
    r = requests.get(
        f"{endpoint}/b?list-type=2", headers=dict(first.headers), verify=str(fake.ca_path)
    )
    assert b"<Code>AuthorizationHeaderMalformed</Code>" in r.content
    assert b"<Region>us-east-1</Region>" in r.content


def _signed_streaming_put(fake: fakeaws.FakeAWS, data: bytes, crc: str) -> requests.Response:
    body = (
        f"{len(data):x}\r\n".encode()
        + data
        + b"\r\n0\r\n"
        + f"x-amz-checksum-crc32:{crc}\r\n\r\n".encode()
    )
    url = f"https://127.0.0.1:{fake.https_port}/manual/obj"
    req = AWSRequest(
        method="PUT",
        url=url,
        data=body,
        headers={
            "Content-Encoding": "aws-chunked",
            "X-Amz-Trailer": "x-amz-checksum-crc32",
            "X-Amz-Decoded-Content-Length": str(len(data)),
        },
    )
    req.context["checksum"] = {"request_algorithm": {"in": "trailer", "algorithm": "crc32"}}
    S3SigV4Auth(Credentials(AKID, SECRET), "s3", "us-east-1").add_auth(req)
    headers = {k: v for k, v in req.headers.items()}
    return requests.put(url, data=body, headers=headers, verify=str(fake.ca_path))


def test_checksum_trailer_checked(fake: fakeaws.FakeAWS) -> None:
    data = b"0123456789" * 10
    good = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert _signed_streaming_put(fake, data, good).status_code == 200
    r = _signed_streaming_put(fake, data, "AAAAAA==")
    assert r.status_code == 400 and b"<Code>BadDigest</Code>" in r.content
    assert b"The CRC32 you specified did not match the calculated checksum." in r.content


# ---- DynamoDB -------------------------------------------------------------------------------


def test_dynamodb_put_get_and_bad_signature(fake: fakeaws.FakeAWS) -> None:
    ddb = client("dynamodb", fake)
    ddb.put_item(TableName="t1", Item={"pk": {"S": "a"}, "n": {"N": "7"}})
    item = ddb.get_item(TableName="t1", Key={"pk": {"S": "a"}})["Item"]
    assert item == {"pk": {"S": "a"}, "n": {"N": "7"}}
    assert "t1" in ddb.list_tables()["TableNames"]
    assert fake.requests[-1].header("x-amz-target") == "DynamoDB_20120810.ListTables"
    err = error_of(client("dynamodb", fake, secret="wrong").get_item, TableName="t1", Key={})
    assert err["Error"]["Code"] == "InvalidSignatureException"
    msg = err["Error"]["Message"]
    assert "The Canonical String for this request should have been\n'POST\n/\n" in msg
    assert "\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" in msg
    assert err["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"].startswith(
        "InvalidSignatureException:http://internal.amazon.com/coral/"
    )


# ---- STS ------------------------------------------------------------------------------------


def test_sts_regional_and_global_tokens(fake: fakeaws.FakeAWS, localhost_names: None) -> None:
    port = fake.https_port
    regional = client(
        "sts", fake, endpoint=f"https://sts.eu-west-1.localhost:{port}", region="eu-west-1"
    )
    creds = regional.assume_role(RoleArn=ROLE, RoleSessionName="regional")["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    token = creds["SessionToken"]
    assert token.startswith("IQoJb3JpZ2luX2Vj") and len(token) >= 750
    assert b"eu-west-1" in base64.b64decode(token)
    s3 = client(
        "s3",
        fake,
        akid=creds["AccessKeyId"],
        secret=creds["SecretAccessKey"],
        token=token,
    )
    s3.put_object(Bucket="temp", Key="k", Body=b"with temporary credentials")
    assert s3.get_object(Bucket="temp", Key="k")["Body"].read() == b"with temporary credentials"

    global_sts = client("sts", fake, endpoint=f"https://sts.localhost:{port}")
    v1 = global_sts.get_session_token()["Credentials"]
    assert v1["SessionToken"].startswith("FQoGZXIvYXdz") and 340 <= len(v1["SessionToken"]) <= 380
    who = client(
        "sts",
        fake,
        akid=v1["AccessKeyId"],
        secret=v1["SecretAccessKey"],
        token=v1["SessionToken"],
    ).get_caller_identity()
    assert who["Account"] == "123456789012"
    no_token = client("s3", fake, akid=v1["AccessKeyId"], secret=v1["SecretAccessKey"])
    assert error_of(no_token.list_objects_v2, Bucket="b")["Error"]["Code"] == "InvalidAccessKeyId"


def _sigv4a_get(fake: fakeaws.FakeAWS, creds: Credentials) -> requests.Response:
    from botocore.crt.auth import CrtS3SigV4AsymAuth

    url = f"https://127.0.0.1:{fake.https_port}/b/k"
    req = AWSRequest(method="GET", url=url)
    CrtS3SigV4AsymAuth(creds, "s3", "*").add_auth(req)
    assert req.headers["Authorization"].startswith("AWS4-ECDSA-P256-SHA256 ")
    return requests.get(url, headers=dict(req.headers.items()), verify=str(fake.ca_path))


def test_sigv4a_verifies_and_refuses_v1_tokens(
    fake: fakeaws.FakeAWS, localhost_names: None
) -> None:
    client("s3", fake).put_object(Bucket="b", Key="k", Body=b"v")
    assert _sigv4a_get(fake, Credentials(AKID, SECRET)).status_code == 200
    assert _sigv4a_get(fake, Credentials(AKID, SECRET[:-1] + "x")).status_code == 403
    sts = client("sts", fake, endpoint=f"https://sts.localhost:{fake.https_port}")
    c = sts.assume_role(RoleArn=ROLE, RoleSessionName="mrap")["Credentials"]
    r = _sigv4a_get(fake, Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]))
    assert r.status_code == 400
    assert b"<Code>UnsupportedSignature</Code>" in r.content
    assert fakeaws.UNSUPPORTED_SIGNATURE.encode() in r.content


# ---- badhop ---------------------------------------------------------------------------------


@pytest.fixture
def hop(fake: fakeaws.FakeAWS, tmp_path: Path) -> Iterator[badhop.BadHop]:
    handle = badhop.start_badhop(
        tmp_path / "badhop",
        upstream_ca=fake.ca_path,
        connect_to=("127.0.0.1", fake.https_port),
    )
    yield handle
    handle.stop()


def test_badhop_connect_forwards_unchanged(fake: fakeaws.FakeAWS, hop: badhop.BadHop) -> None:
    s3 = client(
        "s3",
        fake,
        endpoint="https://s3.us-east-1.localhost",
        verify=str(hop.ca_path),
        proxies={"https": f"http://127.0.0.1:{hop.port}"},
    )
    data = b"through the hop " * 100
    s3.put_object(Bucket="hop", Key="k", Body=data)
    sent, arrived = hop.received[-1], fake.requests[-1]
    assert sent.header_list == arrived.headers
    assert sent.raw_body == arrived.raw_body
    assert sent.start_line.split(" ")[1] == arrived.target
    got = s3.get_object(Bucket="hop", Key="k")
    assert got["Body"].read() == data
    assert got["ResponseMetadata"]["HTTPHeaders"]["via"] == "1.1 badhop"
    assert hop.received[-1].header_list == fake.requests[-1].headers

    hop.add_host_port = True
    err = error_of(s3.get_object, Bucket="hop", Key="k")
    assert err["Error"]["Code"] == "SignatureDoesNotMatch"
    assert "\nhost:s3.us-east-1.localhost:443\n" in err["Error"]["CanonicalRequest"]
    assert fake.requests[-1].header("host") == "s3.us-east-1.localhost:443"
    assert err["ResponseMetadata"]["HTTPHeaders"]["via"] == "1.1 badhop"


def test_badhop_absolute_form_and_switches(fake: fakeaws.FakeAWS, hop: badhop.BadHop) -> None:
    hop.connect_to = ("127.0.0.1", fake.http_port)
    s3 = client(
        "s3",
        fake,
        endpoint="http://s3.us-east-1.localhost",
        proxies={"http": f"http://127.0.0.1:{hop.port}"},
    )
    s3.put_object(Bucket="abs", Key="a b", Body=b"x")
    assert hop.received[-1].start_line.startswith("PUT http://s3.us-east-1.localhost/abs/a%20b ")
    assert fake.requests[-1].target == "/abs/a%20b"
    assert [h for h in hop.received[-1].header_list if h[0] != "Proxy-Connection"] == (
        fake.requests[-1].headers
    )
    hop.plus_for_space = True
    hop.add_headers = [("X-Forwarded-For", "10.0.0.1")]
    # S3 reads a raw '+' in the path as a space (docs/aws-canonicalization.md, E3): the
    # rewritten request still verifies and names the same key
    assert s3.get_object(Bucket="abs", Key="a b")["Body"].read() == b"x"
    assert fake.requests[-1].target == "/abs/a+b"
    assert fake.requests[-1].headers[-1] == ("X-Forwarded-For", "10.0.0.1")


def test_badhop_dechunks_and_rewrites_content_type(
    fake: fakeaws.FakeAWS, hop: badhop.BadHop
) -> None:
    proxies = {"https": f"http://127.0.0.1:{hop.port}"}
    s3 = client(
        "s3",
        fake,
        endpoint="https://s3.us-east-1.localhost",
        verify=str(hop.ca_path),
        proxies=proxies,
    )
    hop.strip_transfer_encoding = True
    s3.put_object(Bucket="hop", Key="dechunked", Body=b"d" * 3000)
    assert hop.received[-1].header("transfer-encoding") == "chunked"
    arrived = fake.requests[-1]
    assert arrived.header("transfer-encoding") is None
    assert arrived.header("content-length") == str(len(arrived.body))
    assert arrived.status == 200  # transfer-encoding is not signed by this botocore
    hop.rewrite_content_type = "application/json"
    ddb = client(
        "dynamodb",
        fake,
        endpoint="https://dynamodb.us-east-1.localhost",
        verify=str(hop.ca_path),
        proxies=proxies,
    )
    err = error_of(ddb.list_tables)
    assert err["Error"]["Code"] == "InvalidSignatureException"
    assert "\ncontent-type:application/json\n" in err["Error"]["Message"]
