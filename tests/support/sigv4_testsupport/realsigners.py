"""Requests signed by real AWS signers, captured without touching the network.

Four signers are exercised:

* ``botocore-crt`` and ``botocore-python``: boto3 clients whose ``before-send`` handler
  records the fully prepared request and answers with a stub :class:`AWSResponse`, so
  nothing is sent. botocore picks its signers when it is imported (the CRT ones when
  awscrt is installed, the pure-Python ones when ``BOTO_DISABLE_CRT=true``), so each mode
  runs in its own subprocess (``python -m sigv4_testsupport.realsigners --mode crt|python --out F``)
  with a scrubbed ``AWS_*`` environment, and the results come back as JSON.
* ``awscrt``: ``awscrt.auth.aws_sign_request`` on ``awscrt.http.HttpRequest`` objects
  (SigV4 and SigV4a, header and query signing, S3 and non-S3 path rules).
* ``requests-aws4auth``: ``AWS4Auth`` applied to a prepared ``requests`` request.

Each capture is a :class:`Captured` record holding what would go on the wire: the raw
request target, the headers in order (including those urllib3 adds itself: ``Host``,
``Accept-Encoding``, ``Content-Length``/``Transfer-Encoding``, ``User-Agent``), and the
body bytes (aws-chunked framing included, the outer HTTP chunked framing excluded).
When the signer exposes it (pure-Python botocore logs it on ``botocore.auth`` at DEBUG;
requests-aws4auth computes it in a method), the canonical request the signer signed is
kept as ``signer_canonical_request`` for debugging.

:func:`all_captures` returns every capture; it is cached so several tests share one run.
"""

from __future__ import annotations

import argparse
import base64
import functools
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

Signer = Literal["botocore-crt", "botocore-python", "awscrt", "requests-aws4auth"]
SigScheme = Literal["sigv4", "sigv4a"]
SigLocation = Literal["header", "query"]
Mode = Literal["crt", "python"]

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
# Made-up temporary credentials; the token has '/', '+' and '=' to exercise query encoding.
TEMP_AKID = "ASIAQWERTYUIOPEXAMPL"
TEMP_SECRET = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
TEMP_TOKEN = (
    "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+example/token+with=="
    "/slashes+and+plus="
)

_METHODS_NOT_EXPECTING_BODY = {"GET", "HEAD", "DELETE", "TRACE", "OPTIONS", "CONNECT"}
_SUBPROCESS_TIMEOUT = 120


@dataclass(frozen=True)
class Captured:
    """One signed request exactly as it would cross the wire, plus the credential that
    signed it and what the verifier is expected to find."""

    name: str
    signer: Signer
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    host: str
    access_key_id: str
    secret: str
    token: str | None
    expect_scheme: SigScheme
    expect_location: SigLocation
    signer_canonical_request: str | None = None
    scheme: str = "https"  # the URL scheme the request was sent over

    @property
    def id(self) -> str:
        return f"{self.signer}:{self.name}"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["headers"] = [list(h) for h in self.headers]
        d["body"] = base64.b64encode(self.body).decode("ascii")
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Captured:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["headers"] = [(str(k), str(v)) for k, v in d["headers"]]
        kw["body"] = base64.b64decode(d["body"])
        return cls(**kw)


def dump_captures(captures: Iterable[Captured], path: Path) -> None:
    path.write_text(json.dumps([c.to_json() for c in captures], indent=1), encoding="utf-8")


def load_captures(path: Path) -> list[Captured]:
    return [Captured.from_json(d) for d in json.loads(path.read_text(encoding="utf-8"))]


# -- what urllib3 puts on the wire ------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def body_bytes(body: Any) -> bytes:
    """The bytes a body object sends: file-like bodies are read fully."""
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        data = body.read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    return b"".join(_text(x).encode() if isinstance(x, str) else bytes(x) for x in body)


def host_for(url: str) -> str:
    """The Host header http.client derives from a URL (default ports dropped)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if (parts.scheme, parts.port) in (("http", 80), ("https", 443)):
        netloc = netloc.rsplit(":", 1)[0]
    return netloc


def target_for(url: str) -> str:
    """The request target of a URL: path and query, percent-encoding untouched."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def wire_headers(
    method: str,
    url: str,
    headers: Iterable[tuple[Any, Any]],
    body: Any,
) -> list[tuple[str, str]]:
    """The header block urllib3 2.x (``HTTPConnection.request``) would send for these
    request headers and body: ``Host`` and ``Accept-Encoding: identity`` unless present,
    then ``Content-Length`` or ``Transfer-Encoding`` unless a framing header is present,
    then ``User-Agent`` unless present, then the request's own headers in order."""
    from importlib.metadata import version

    hdrs = [(_text(k), _text(v)) for k, v in headers]
    keys = {k.lower() for k, _ in hdrs}
    out: list[tuple[str, str]] = []
    if "host" not in keys:
        out.append(("Host", host_for(url)))
    if "accept-encoding" not in keys:
        out.append(("Accept-Encoding", "identity"))
    if "content-length" not in keys and "transfer-encoding" not in keys:
        if body is None:
            if method.upper() not in _METHODS_NOT_EXPECTING_BODY:
                out.append(("Content-Length", "0"))
        elif isinstance(body, str | bytes | bytearray):
            out.append(("Content-Length", str(len(body_bytes(body)))))
        else:
            out.append(("Transfer-Encoding", "chunked"))
    if "user-agent" not in keys:
        out.append(("User-Agent", f"python-urllib3/{version('urllib3')}"))
    return out + hdrs


# -- botocore (run in a subprocess per mode) ----------------------------------------------


class _CanonicalLog(logging.Handler):
    """Collects the canonical requests pure-Python botocore logs at DEBUG level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("CanonicalRequest:\n"):
            self.seen.append(msg.removeprefix("CanonicalRequest:\n"))

    def take(self) -> str | None:
        last = self.seen[-1] if self.seen else None
        self.seen.clear()
        return last


def _stub_body(protocol: str, operation: str) -> bytes:
    if protocol in ("json", "rest-json"):
        return b"{}"
    if protocol == "query":
        return (
            f"<{operation}Response><{operation}Result/>"
            f"<ResponseMetadata><RequestId>0</RequestId></ResponseMetadata>"
            f"</{operation}Response>"
        ).encode()
    if protocol == "ec2":
        return f"<{operation}Response><requestId>0</requestId></{operation}Response>".encode()
    return b""


class _BotocoreCapturer:
    """Builds boto3 clients whose requests are recorded at ``before-send`` and answered
    with a stub response."""

    def __init__(self, mode: Mode) -> None:
        import boto3

        self.mode: Mode = mode
        self.signer: Signer = "botocore-crt" if mode == "crt" else "botocore-python"
        self.session = boto3.session.Session()
        self.log = _CanonicalLog()
        auth_logger = logging.getLogger("botocore.auth")
        auth_logger.setLevel(logging.DEBUG)
        auth_logger.addHandler(self.log)
        self.out: list[Captured] = []

    def client(
        self,
        service: str,
        *,
        region: str = "us-east-1",
        temp: bool = False,
        endpoint_url: str | None = None,
        **config: Any,
    ) -> Any:
        """A client with explicit credentials; one botocore session is shared so service
        models load once."""
        import botocore.config

        return self.session.client(
            service,
            region_name=region,
            aws_access_key_id=TEMP_AKID if temp else AKID,
            aws_secret_access_key=TEMP_SECRET if temp else SECRET,
            aws_session_token=TEMP_TOKEN if temp else None,
            endpoint_url=endpoint_url,
            config=botocore.config.Config(**config) if config else None,
        )

    def call(
        self,
        name: str,
        client: Any,
        operation: str,
        params: Mapping[str, Any],
        *,
        expect_scheme: SigScheme = "sigv4",
    ) -> None:
        """Run one operation, record the request it would send, send nothing."""
        from botocore.awsrequest import AWSResponse
        from urllib3.response import HTTPResponse

        model = client.meta.service_model
        op_name = model.operation_model(client.meta.method_to_api_mapping[operation]).name
        seen: list[Captured] = []

        def before_send(request: Any, **_: Any) -> AWSResponse:
            body = body_bytes(request.body)
            seen.append(
                self._record(
                    name, request.method, request.url, request.headers, body, client, expect_scheme
                )
            )
            stub = _stub_body(model.protocol, op_name)
            raw = HTTPResponse(
                body=io.BytesIO(stub),
                status=200,
                headers={"Content-Length": str(len(stub))},
                preload_content=False,
            )
            return AWSResponse(request.url, 200, {"Content-Length": str(len(stub))}, raw)

        client.meta.events.register("before-send", before_send)
        self.log.take()
        try:
            getattr(client, operation)(**params)
        except Exception:
            # The stub response may not parse as this operation's output; only a failure
            # before the request was built matters.
            if not seen:
                raise
        finally:
            client.meta.events.unregister("before-send", before_send)
        if len(seen) != 1:
            raise RuntimeError(f"{name}: expected exactly one request, saw {len(seen)}")
        self.out.append(seen[0])

    def _record(
        self,
        name: str,
        method: str,
        url: str,
        headers: Any,
        body: bytes,
        client: Any,
        expect_scheme: SigScheme,
    ) -> Captured:
        raw_headers = list(headers.items())
        # urllib3 sees the body object botocore hands it: bytes get a Content-Length,
        # streams are sent chunked (botocore sets Transfer-Encoding itself for those).
        wire = wire_headers(method, url, raw_headers, body if body else None)
        creds = client._request_signer._credentials
        return Captured(
            name=name,
            signer=self.signer,
            method=method,
            target=target_for(url),
            headers=wire,
            body=body,
            host=_header(wire, "host") or host_for(url),
            access_key_id=creds.access_key,
            secret=creds.secret_key,
            token=creds.token,
            expect_scheme=expect_scheme,
            expect_location="header",
            signer_canonical_request=self.log.take(),
            scheme=urlsplit(url).scheme,
        )

    def presign(
        self,
        name: str,
        client: Any,
        operation: str,
        params: Mapping[str, Any],
        *,
        extra_headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> None:
        """A presigned URL, as a client with only the URL (and the headers it signed)
        would send it."""
        self.log.take()
        url = client.generate_presigned_url(operation, Params=dict(params), ExpiresIn=900)
        canonical = self.log.take()
        method = "PUT" if operation.startswith("put") else "GET"
        headers = [("Host", host_for(url)), *extra_headers]
        if body:
            headers.append(("Content-Length", str(len(body))))
        creds = client._request_signer._credentials
        self.out.append(
            Captured(
                name=name,
                signer=self.signer,
                method=method,
                target=target_for(url),
                headers=headers,
                body=body,
                host=host_for(url),
                access_key_id=creds.access_key,
                secret=creds.secret_key,
                token=creds.token,
                expect_scheme="sigv4",
                expect_location="query",
                signer_canonical_request=canonical,
                scheme=urlsplit(url).scheme,
            )
        )


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


BUCKET = "examplebucket"
S3_KEYS = {
    "key-space": "photos/my summer holiday.jpg",
    "key-plus": "a+b/c+d.txt",
    "key-tilde": "~user/.profile~",
    "key-equals-amp": "q=1&r=2/x=y&z.txt",
    "key-nonascii": "résumé/日本/ファイル é.txt",
}


def capture_botocore(mode: Mode) -> list[Captured]:
    """Every botocore case for the signers botocore selected at import (``mode`` only
    names them; the caller must have set ``BOTO_DISABLE_CRT`` to match)."""
    from botocore.compat import HAS_CRT

    if (mode == "crt") != HAS_CRT:
        raise RuntimeError(f"mode {mode!r} but botocore HAS_CRT={HAS_CRT}")
    cap = _BotocoreCapturer(mode)
    s3 = cap.client("s3")
    s3_eu = cap.client("s3", region="eu-west-1")

    cap.call(
        "s3-put-default-checksum",
        s3,
        "put_object",
        {"Bucket": BUCKET, "Key": "reports/2024.csv", "Body": b"id,name\n1,alpha\n2,beta\n"},
    )
    cap.call(
        "s3-put-default-checksum-filelike-2chunks",
        s3_eu,
        "put_object",
        {"Bucket": BUCKET, "Key": "big.bin", "Body": io.BytesIO(bytes(range(256)) * 4500)},
    )
    cap.call(
        "s3-put-http-endpoint",
        cap.client("s3", endpoint_url="http://s3.amazonaws.com"),
        "put_object",
        {"Bucket": BUCKET, "Key": "plain http.txt", "Body": b"hello over http"},
    )
    if mode == "crt":  # CRC32C needs awscrt in botocore
        cap.call(
            "s3-put-crc32c",
            s3,
            "put_object",
            {
                "Bucket": BUCKET,
                "Key": "c.txt",
                "Body": b"crc32c body",
                "ChecksumAlgorithm": "CRC32C",
            },
        )
    cap.call(
        "s3-put-sha256",
        s3_eu,
        "put_object",
        {
            "Bucket": BUCKET,
            "Key": "s.txt",
            "Body": b"sha256 body",
            "ChecksumAlgorithm": "SHA256",
            "ContentType": "text/plain; charset=utf-8",
            "Metadata": {"owner": "alice  smith"},
        },
    )
    cap.call(
        "s3-get-range",
        s3,
        "get_object",
        {"Bucket": BUCKET, "Key": "big.bin", "Range": "bytes=0-99"},
    )
    for name, key in S3_KEYS.items():
        cap.call(f"s3-get-{name}", s3_eu, "get_object", {"Bucket": BUCKET, "Key": key})
    cap.call(
        "s3-get-session-token",
        cap.client("s3", region="eu-west-1", temp=True),
        "get_object",
        {"Bucket": BUCKET, "Key": "secret/é.txt"},
    )
    cap.call(
        "s3-list-v2-prefix-delimiter",
        s3,
        "list_objects_v2",
        {"Bucket": BUCKET, "Prefix": "photos/2024 été/a+b=c&d", "Delimiter": "/", "MaxKeys": 50},
    )
    # generate_presigned_url still defaults to SigV2 ("s3" query auth) for S3; ask for SigV4.
    s3_presign = cap.client("s3", signature_version="s3v4")
    cap.presign(
        "s3-presign-get",
        s3_presign,
        "get_object",
        {"Bucket": BUCKET, "Key": S3_KEYS["key-nonascii"]},
    )
    cap.presign(
        "s3-presign-get-session-token",
        cap.client("s3", region="eu-west-1", temp=True, signature_version="s3v4"),
        "get_object",
        {"Bucket": BUCKET, "Key": "a b+c.txt", "ResponseContentDisposition": "attachment"},
    )
    cap.presign(
        "s3-presign-put-content-type",
        s3_presign,
        "put_object",
        {"Bucket": BUCKET, "Key": "upload/new file.json", "ContentType": "application/json"},
        extra_headers=[("Content-Type", "application/json")],
        body=b'{"uploaded": true}',
    )
    if mode == "crt":  # SigV4a needs awscrt
        cap.call(
            "s3-mrap-get",
            s3,
            "get_object",
            {"Bucket": "arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap", "Key": "k ey"},
            expect_scheme="sigv4a",
        )

    sts = cap.client("sts")
    cap.call("sts-get-caller-identity", sts, "get_caller_identity", {})
    cap.call(
        "sts-assume-role",
        sts,
        "assume_role",
        {
            "RoleArn": "arn:aws:iam::123456789012:role/demo role",
            "RoleSessionName": "session+name=1",
            "DurationSeconds": 900,
        },
    )
    cap.call(
        "sts-get-caller-identity-session-token",
        cap.client("sts", region="eu-west-1", temp=True),
        "get_caller_identity",
        {},
    )
    cap.call(
        "dynamodb-put-item",
        cap.client("dynamodb"),
        "put_item",
        {"TableName": "Music", "Item": {"pk": {"S": "artist#é"}, "n": {"N": "42"}}},
    )
    cap.call(
        "sqs-send-message",
        cap.client("sqs", region="eu-west-1"),
        "send_message",
        {
            "QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/my-queue",
            "MessageBody": "hello & welcome é",
        },
    )
    cap.call(
        "lambda-invoke-arn",
        cap.client("lambda"),
        "invoke",
        {
            "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:my-function",
            "Payload": b'{"key": "value"}',
            "Qualifier": "live",
        },
    )
    cap.call(
        "ec2-describe-instances",
        cap.client("ec2", region="eu-west-1"),
        "describe_instances",
        {"Filters": [{"Name": "tag:Name", "Values": ["web server*", "a+b"]}], "MaxResults": 10},
    )
    cap.call(
        "kms-encrypt",
        cap.client("kms"),
        "encrypt",
        {"KeyId": "alias/my-key", "Plaintext": b"top secret \x00\xff"},
    )
    cap.call("apigateway-get-rest-apis", cap.client("apigateway"), "get_rest_apis", {"limit": 5})
    return cap.out


def _clean_env(tmp: Path, mode: Mode) -> dict[str, str]:
    """The environment for a capture subprocess: no AWS_*/BOTO* settings from the machine,
    config and credential files pointing at an empty file, CRT switched per mode."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("AWS_", "BOTO"))}
    empty = tmp / "empty-aws-config"
    empty.write_text("")
    env.update(
        AWS_CONFIG_FILE=str(empty),
        AWS_SHARED_CREDENTIALS_FILE=str(empty),
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONDONTWRITEBYTECODE="1",
    )
    if mode == "python":
        env["BOTO_DISABLE_CRT"] = "true"
    return env


@functools.cache
def botocore_captures() -> tuple[Captured, ...]:
    """Both botocore modes, each captured in its own subprocess (run in parallel)."""
    with tempfile.TemporaryDirectory(prefix="realsigners-") as d:
        tmp = Path(d)
        procs: list[tuple[Mode, Path, subprocess.Popen[bytes]]] = []
        for mode in ("crt", "python"):
            out = tmp / f"{mode}.json"
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sigv4_testsupport.realsigners",
                    "--mode",
                    mode,
                    "--out",
                    str(out),
                ],
                env=_clean_env(tmp, mode),
                cwd=tmp,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            procs.append((mode, out, proc))
        result: list[Captured] = []
        for mode, out, proc in procs:
            stdout, stderr = proc.communicate(timeout=_SUBPROCESS_TIMEOUT)
            if proc.returncode != 0:
                raise RuntimeError(
                    f"botocore capture ({mode}) failed with {proc.returncode}:\n"
                    + stderr.decode(errors="replace")
                    + stdout.decode(errors="replace")
                )
            result.extend(load_captures(out))
    return tuple(result)


# -- awscrt directly ----------------------------------------------------------------------


def _crt_case(
    name: str,
    *,
    algorithm: SigScheme,
    location: SigLocation,
    service: str,
    region: str,
    host: str,
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    signed_body_value: str | None = None,
    body_header: bool = False,
    temp: bool = False,
) -> Captured:
    from awscrt import auth, http

    s3 = service == "s3"
    akid, secret, token = (TEMP_AKID, TEMP_SECRET, TEMP_TOKEN) if temp else (AKID, SECRET, None)
    hdrs = [("Host", host), *headers]
    if body:
        hdrs.append(("Content-Length", str(len(body))))
    request = http.HttpRequest(method, target, http.HttpHeaders(hdrs), io.BytesIO(body))
    config = auth.AwsSigningConfig(
        algorithm=(
            auth.AwsSigningAlgorithm.V4_ASYMMETRIC
            if algorithm == "sigv4a"
            else auth.AwsSigningAlgorithm.V4
        ),
        signature_type=(
            auth.AwsSignatureType.HTTP_REQUEST_QUERY_PARAMS
            if location == "query"
            else auth.AwsSignatureType.HTTP_REQUEST_HEADERS
        ),
        credentials_provider=auth.AwsCredentialsProvider.new_static(akid, secret, token),
        region=region,
        service=service,
        use_double_uri_encode=not s3,
        should_normalize_uri_path=not s3,
        signed_body_value=signed_body_value,
        signed_body_header_type=(
            auth.AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256
            if body_header
            else auth.AwsSignedBodyHeaderType.NONE
        ),
        expiration_in_seconds=900 if location == "query" else None,
    )
    auth.aws_sign_request(request, config).result(timeout=10)
    return Captured(
        name=name,
        signer="awscrt",
        method=method,
        target=request.path,
        headers=[(str(k), str(v)) for k, v in request.headers],
        body=body,
        host=host,
        access_key_id=akid,
        secret=secret,
        token=token,
        expect_scheme=algorithm,
        expect_location=location,
    )


def capture_awscrt() -> list[Captured]:
    """SigV4 and SigV4a x header and query x S3 and non-S3 path rules, signed by awscrt."""
    from awscrt.auth import AwsSignedBodyValue

    out: list[Captured] = []
    s3_host = f"{BUCKET}.s3.us-west-2.amazonaws.com"
    api_host = "abc123defg.execute-api.us-west-2.amazonaws.com"
    for algorithm in ("sigv4", "sigv4a"):
        region = "us-west-2" if algorithm == "sigv4" else "*"
        for location in ("header", "query"):
            tag = f"{algorithm}-{location}"
            out.append(
                _crt_case(
                    f"{tag}-s3-get",
                    algorithm=algorithm,
                    location=location,
                    service="s3",
                    region=region,
                    host=s3_host,
                    method="GET",
                    target="/photos/a%20b/../c%2Bd~e%3Df//%C3%A9.jpg?response-content-type=text%2Fplain&versionId=v+1",
                    signed_body_value=AwsSignedBodyValue.UNSIGNED_PAYLOAD,
                    body_header=location == "header",
                )
            )
            out.append(
                _crt_case(
                    f"{tag}-service-normalised-path",
                    algorithm=algorithm,
                    location=location,
                    service="execute-api",
                    region=region,
                    host=api_host,
                    method="POST" if location == "header" else "GET",
                    target="/prod/v1/../items/my%20dir/./caf%C3%A9~1?q=a+b&flag&z=1%2F2&a=",
                    headers=(
                        [("Content-Type", "application/json"), ("X-Custom", "  two   spaces  ")]
                        if location == "header"
                        else []
                    ),
                    body=b'{"hello": "world"}' if location == "header" else b"",
                )
            )
    out.append(
        _crt_case(
            "sigv4-header-s3-put-signed-body",
            algorithm="sigv4",
            location="header",
            service="s3",
            region="us-west-2",
            host=s3_host,
            method="PUT",
            target="/notes/today%20%26%20tomorrow.txt",
            headers=[("Content-Type", "text/plain")],
            body=b"signed payload body\n",
            body_header=True,
        )
    )
    out.append(
        _crt_case(
            "sigv4-header-service-session-token",
            algorithm="sigv4",
            location="header",
            service="execute-api",
            region="us-west-2",
            host=api_host,
            method="GET",
            target="/prod/items?b=2&a=1&a=0",
            temp=True,
        )
    )
    out.append(
        _crt_case(
            "sigv4a-query-s3-session-token",
            algorithm="sigv4a",
            location="query",
            service="s3",
            region="us-east-1,eu-west-1",
            host=s3_host,
            method="GET",
            target="/private/report.pdf",
            signed_body_value=AwsSignedBodyValue.UNSIGNED_PAYLOAD,
            temp=True,
        )
    )
    return out


# -- requests-aws4auth ---------------------------------------------------------------------


def capture_requests_aws4auth() -> list[Captured]:
    """GET with a query, POST with a JSON body and an S3 PUT signed by ``AWS4Auth``."""
    import requests
    from requests_aws4auth import AWS4Auth

    class RecordingAWS4Auth(AWS4Auth):  # type: ignore[misc]
        canonical: str | None = None

        def get_canonical_request(self, req: Any, cano_headers: str, signed_headers: str) -> str:
            creq: str = super().get_canonical_request(req, cano_headers, signed_headers)
            self.canonical = creq
            return creq

    def one(
        name: str,
        region: str,
        service: str,
        make: Callable[[], requests.Request],
    ) -> Captured:
        signer = RecordingAWS4Auth(AKID, SECRET, region, service)
        prepared = make().prepare()
        signer(prepared)
        url = str(prepared.url)
        body = prepared.body
        return Captured(
            name=name,
            signer="requests-aws4auth",
            method=str(prepared.method),
            target=target_for(url),
            headers=wire_headers(str(prepared.method), url, prepared.headers.items(), body),
            body=body_bytes(body),
            host=host_for(url),
            access_key_id=AKID,
            secret=SECRET,
            token=None,
            expect_scheme="sigv4",
            expect_location="header",
            signer_canonical_request=signer.canonical,
        )

    es = "https://search-my-domain-abc.eu-west-1.es.amazonaws.com"
    return [
        one(
            "es-get-query",
            "eu-west-1",
            "es",
            lambda: requests.Request(
                "GET",
                f"{es}/my-index/_search",
                params={"q": "title:hello world", "size": "5", "sort": "date:desc"},
            ),
        ),
        one(
            "dynamodb-post-json",
            "eu-west-1",
            "dynamodb",
            lambda: requests.Request(
                "POST",
                "https://dynamodb.eu-west-1.amazonaws.com/",
                headers={
                    "X-Amz-Target": "DynamoDB_20120810.GetItem",
                    "Content-Type": "application/x-amz-json-1.0",
                },
                json={"TableName": "Music", "Key": {"pk": {"S": "a"}}},
            ),
        ),
        one(
            "s3-put",
            "eu-west-1",
            "s3",
            lambda: requests.Request(
                "PUT",
                f"https://{BUCKET}.s3.eu-west-1.amazonaws.com/docs/some key+é.txt",
                headers={"Content-Type": "text/plain"},
                data=b"uploaded by requests-aws4auth\n",
            ),
        ),
    ]


# -- everything ---------------------------------------------------------------------------


@functools.cache
def all_captures() -> tuple[Captured, ...]:
    """Every captured request from every signer (botocore ones from subprocesses)."""
    return botocore_captures() + tuple(capture_awscrt()) + tuple(capture_requests_aws4auth())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--mode", choices=["crt", "python"], required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    dump_captures(capture_botocore(args.mode), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
