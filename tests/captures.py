"""Requests signed by real signers, captured before sending (no network): botocore with its
CRT signers (its default when awscrt is installed) and with its pure-Python signers
(``BOTO_DISABLE_CRT=true``, which must be set before botocore is imported, so those run in
a subprocess), awscrt's signer directly (SigV4 and SigV4a, header and query, S3 and
non-S3 path rules) and requests-aws4auth.

Run as a script (``python tests/captures.py``) it prints the botocore captures as JSON; the
tests call it in a subprocess for the pure-Python mode.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
AKID, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TEMP = (
    "ASIAIOSFODNN7EXAMPLE",
    "tempSecretKeyEXAMPLEtempSecretKeyEXAMPLE",
    "IQoJb3JpZ2luX2VjEXAMPLE" + "T" * 300,
)
MRAP = "arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap"


@dataclass
class Captured:
    name: str
    signer: str
    method: str
    target: str
    headers: list[tuple[str, str]]
    body_b64: str
    host: str
    access_key_id: str
    secret: str
    token: str | None
    expect_scheme: str
    expect_location: str

    @property
    def body(self) -> bytes:
        return base64.b64decode(self.body_b64)


def _wire(
    name: str,
    signer: str,
    method: str,
    url: str,
    headers: Any,
    body: Any,
    key: tuple[str, ...],
    scheme: str = "sigv4",
    location: str = "header",
) -> Captured:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    hdrs = [(k, v.decode() if isinstance(v, bytes) else str(v)) for k, v in headers.items()]
    if not any(k.lower() == "host" for k, _ in hdrs):
        hdrs.insert(0, ("Host", parts.netloc))
    if body is None:
        data = b""
    elif hasattr(body, "read"):
        data = body.read()
    else:
        data = body.encode() if isinstance(body, str) else bytes(body)
    return Captured(
        name,
        signer,
        method,
        target,
        hdrs,
        base64.b64encode(data).decode(),
        parts.netloc,
        key[0],
        key[1],
        key[2] if len(key) > 2 else None,
        scheme,
        location,
    )


def botocore_cases(signer: str) -> list[Captured]:
    """The operations of the issue, signed by boto3 clients (CRT or pure-Python signers,
    whichever this process has)."""
    import boto3
    import botocore.config
    from botocore.awsrequest import AWSResponse

    class _Raw:
        def stream(self, *a: Any, **k: Any) -> Any:
            yield b""

    out: list[Captured] = []

    def run(
        name: str,
        service: str,
        call: Callable[[Any], Any],
        *,
        key: tuple[str, ...] = (AKID, SECRET),
        region: str = "us-east-1",
        scheme: str = "sigv4",
        endpoint: str | None = None,
        **cfg: Any,
    ) -> None:
        client = boto3.client(
            service,
            region_name=region,
            aws_access_key_id=key[0],
            aws_secret_access_key=key[1],
            aws_session_token=key[2] if len(key) > 2 else None,
            endpoint_url=endpoint,
            config=botocore.config.Config(retries={"max_attempts": 1}, **cfg),
        )
        seen: list[Captured] = []

        def before_send(request: Any, **_: Any) -> AWSResponse:
            seen.append(
                _wire(
                    name,
                    signer,
                    request.method,
                    request.url,
                    request.headers,
                    request.body,
                    key,
                    scheme,
                )
            )
            return AWSResponse(request.url, 200, {}, _Raw())

        client.meta.events.register("before-send", before_send)
        with contextlib.suppress(Exception):
            call(client)
        out.extend(seen[:1])

    body = b"hello world\n" * 100
    run(
        "s3-put-default-checksum", "s3", lambda c: c.put_object(Bucket="bucket", Key="k", Body=body)
    )
    run(
        "s3-put-default-checksum-http",
        "s3",
        lambda c: c.put_object(Bucket="bucket", Key="k", Body=body),
        endpoint="http://s3.us-east-1.amazonaws.com",
    )
    run(
        "s3-put-crc32c",
        "s3",
        lambda c: c.put_object(Bucket="bucket", Key="k", Body=body, ChecksumAlgorithm="CRC32C"),
    )
    run(
        "s3-put-sha256",
        "s3",
        lambda c: c.put_object(Bucket="bucket", Key="k", Body=body, ChecksumAlgorithm="SHA256"),
    )
    run(
        "s3-put-stream-body",
        "s3",
        lambda c: c.put_object(Bucket="bucket", Key="k", Body=io.BytesIO(body)),
    )
    run("s3-get-range", "s3", lambda c: c.get_object(Bucket="bucket", Key="k", Range="bytes=0-9"))
    for i, key in enumerate(
        ["a b.txt", "a+b.txt", "~tilde", "x=y&z", "é/日本.txt", "dir//double", "percent%20x"]
    ):
        run(f"s3-get-key-{i}", "s3", lambda c, key=key: c.get_object(Bucket="bucket", Key=key))
    run(
        "s3-list-v2",
        "s3",
        lambda c: c.list_objects_v2(Bucket="bucket", Prefix="a b/", Delimiter="/"),
    )
    run(
        "s3-path-style",
        "s3",
        lambda c: c.get_object(Bucket="bucket", Key="k"),
        s3={"addressing_style": "path"},
    )
    run("s3-temp-creds", "s3", lambda c: c.list_buckets(), key=TEMP)
    run("sts-get-caller-identity", "sts", lambda c: c.get_caller_identity(), region="eu-west-1")
    run(
        "sts-assume-role",
        "sts",
        lambda c: c.assume_role(RoleArn="arn:aws:iam::123456789012:role/r", RoleSessionName="s"),
    )
    run(
        "dynamodb-put-item",
        "dynamodb",
        lambda c: c.put_item(TableName="t", Item={"k": {"S": "v é"}}),
    )
    run(
        "sqs-send-message",
        "sqs",
        lambda c: c.send_message(
            QueueUrl="https://sqs.us-east-1.amazonaws.com/123456789012/q", MessageBody="hi"
        ),
    )
    run(
        "lambda-invoke-arn",
        "lambda",
        lambda c: c.invoke(
            FunctionName="arn:aws:lambda:us-east-1:123456789012:function:f:live", Payload=b"{}"
        ),
    )
    run(
        "ec2-describe-instances",
        "ec2",
        lambda c: c.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["a b"]}]),
    )
    run("kms-encrypt", "kms", lambda c: c.encrypt(KeyId="alias/x", Plaintext=b"secret"))
    run("apigateway-get-rest-apis", "apigateway", lambda c: c.get_rest_apis(limit=5))
    if signer == "botocore-crt":
        run("s3-mrap-sigv4a", "s3", lambda c: c.get_object(Bucket=MRAP, Key="k"), scheme="sigv4a")
    # presigned URLs
    import boto3 as b3

    s3 = b3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=botocore.config.Config(signature_version="s3v4"),
    )
    get = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "bucket", "Key": "a b+c.txt"}, ExpiresIn=600
    )
    out.append(
        _wire("s3-presigned-get", signer, "GET", get, {}, None, (AKID, SECRET), location="query")
    )
    put = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "bucket", "Key": "k.csv", "ContentType": "text/csv"}
    )
    out.append(
        _wire(
            "s3-presigned-put",
            signer,
            "PUT",
            put,
            {"Content-Type": "text/csv"},
            b"a,b",
            (AKID, SECRET),
            location="query",
        )
    )
    return out


def awscrt_cases() -> list[Captured]:
    """awscrt's signer directly: SigV4/SigV4a x header/query x S3/non-S3 path rules."""
    import datetime

    from awscrt import auth, http

    creds = auth.AwsCredentialsProvider.new_static(AKID, SECRET)
    out: list[Captured] = []
    for alg_name, alg in (
        ("v4", auth.AwsSigningAlgorithm.V4),
        ("v4a", auth.AwsSigningAlgorithm.V4_ASYMMETRIC),
    ):
        for sig_name, sig in (
            ("header", auth.AwsSignatureType.HTTP_REQUEST_HEADERS),
            ("query", auth.AwsSignatureType.HTTP_REQUEST_QUERY_PARAMS),
        ):
            for svc, path, s3 in (
                ("s3", "/bucket/a%20b/c+d", True),
                ("service", "/a/./b/../c%20d//e?x=a+b&flag&z=%2F", False),
            ):
                host = f"{'s3' if s3 else 'service'}.us-east-1.amazonaws.com"
                body = b"" if sig_name == "query" else b'{"k": 1}'
                req = http.HttpRequest(
                    "POST" if body else "GET",
                    path,
                    http.HttpHeaders([("Host", host), ("Content-Type", "application/json")]),
                    io.BytesIO(body),
                )
                cfg = auth.AwsSigningConfig(
                    algorithm=alg,
                    signature_type=sig,
                    credentials_provider=creds,
                    region="us-east-1",
                    service=svc,
                    date=datetime.datetime.now(datetime.UTC),
                    use_double_uri_encode=not s3,
                    should_normalize_uri_path=not s3,
                    signed_body_value="UNSIGNED-PAYLOAD" if s3 else None,
                    signed_body_header_type=auth.AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256
                    if s3 and sig_name == "header"
                    else auth.AwsSignedBodyHeaderType.NONE,
                    expiration_in_seconds=300 if sig_name == "query" else None,
                )
                signed = auth.aws_sign_request(req, cfg).result(10)
                out.append(
                    Captured(
                        f"{alg_name}-{sig_name}-{svc}",
                        "awscrt",
                        signed.method,
                        signed.path,
                        list(signed.headers),
                        base64.b64encode(body).decode(),
                        host,
                        AKID,
                        SECRET,
                        None,
                        "sigv4a" if alg_name == "v4a" else "sigv4",
                        sig_name,
                    )
                )
    return out


def aws4auth_cases() -> list[Captured]:
    import requests
    from requests_aws4auth import AWS4Auth

    out: list[Captured] = []
    for name, svc, method, url, body in (
        (
            "get-query",
            "execute-api",
            "GET",
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/items?limit=5&q=a%20b",
            None,
        ),
        (
            "post-json",
            "es",
            "POST",
            "https://search-d.us-east-1.es.amazonaws.com/idx/_search",
            b'{"query":{}}',
        ),
        ("s3-put", "s3", "PUT", "https://bucket.s3.amazonaws.com/k.txt", b"data"),
    ):
        p = requests.Request(method, url, data=body).prepare()
        AWS4Auth(AKID, SECRET, "us-east-1", svc)(p)
        out.append(
            _wire(
                name,
                "requests-aws4auth",
                p.method or "GET",
                p.url or url,
                p.headers,
                p.body,
                (AKID, SECRET),
            )
        )
    return out


@cache
def python_botocore_cases() -> list[Captured]:
    """botocore's pure-Python signers, captured in a subprocess with BOTO_DISABLE_CRT=true."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        BOTO_DISABLE_CRT="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    out = subprocess.run(
        [sys.executable, str(Path(__file__))], env=env, capture_output=True, text=True, timeout=120
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return [
        Captured(**{**d, "headers": [tuple(h) for h in d["headers"]]})
        for d in json.loads(out.stdout)
    ]


@cache
def all_cases() -> list[Captured]:
    return [
        *botocore_cases("botocore-crt"),
        *python_botocore_cases(),
        *awscrt_cases(),
        *aws4auth_cases(),
    ]


if __name__ == "__main__":
    import botocore.auth

    mode = "botocore-python" if os.environ.get("BOTO_DISABLE_CRT") == "true" else "botocore-crt"
    if mode == "botocore-python":
        assert botocore.auth.AUTH_TYPE_MAPS["s3v4"] is botocore.auth.S3SigV4Auth
    print(json.dumps([asdict(c) for c in botocore_cases(mode)]))
